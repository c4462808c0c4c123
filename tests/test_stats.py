"""Image statistics: documented reference values on known inputs."""
from __future__ import annotations

import numpy as np
import pytest

from amaxcheck import stats as S
from amaxcheck.errors import DataError
from amaxcheck.verdict.controls import white_noise


@pytest.fixture(scope="module")
def noise():
    return white_noise((32, 32, 1), 16, (0.0, 1.0), seed=0)


@pytest.fixture(scope="module")
def smooth():
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    return (0.5 + 0.4 * np.sin(2 * np.pi * xx) * np.cos(np.pi * yy))[..., None]


def test_white_noise_reference_values(noise):
    hf = np.mean([S.high_frequency_ratio(x) for x in noise])
    assert 0.75 < hf < 0.88  # area fraction above half Nyquist
    assert abs(np.mean([S.autocorrelation(x) for x in noise])) < 0.05
    assert abs(np.mean([S.spectral_slope(x) for x in noise])) < 0.3
    assert np.mean([S.total_variation(x) for x in noise]) == pytest.approx(2 / np.sqrt(np.pi), abs=0.08)
    assert np.mean([S.noise_sigma(x, (0, 1)) for x in noise]) == pytest.approx(1 / np.sqrt(12), abs=0.03)


def test_smooth_image_reference_values(smooth):
    assert S.high_frequency_ratio(smooth) < 0.01
    assert S.autocorrelation(smooth) > 0.9
    assert S.spectral_slope(smooth) < -2
    assert S.total_variation(smooth) < 0.3
    assert S.noise_sigma(smooth, (0, 1)) < 0.01


def test_constant_image_is_well_defined():
    flat = np.full((8, 8), 0.3)
    assert S.high_frequency_ratio(flat) == 0.0
    assert S.autocorrelation(flat) == 0.0
    assert S.total_variation(flat) == 0.0
    assert np.isnan(S.spectral_slope(flat))
    assert S.entropy(flat, (0, 1)) == 0.0


def test_statistics_do_not_depend_on_the_input_range(smooth):
    a = S.image_stats(smooth, (0, 1))
    b = S.image_stats(smooth * 255.0, (0, 255))
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9), k


def test_saturation_contrast_entropy():
    img = np.zeros((10, 10))
    img[:, 5:] = 1.0
    assert S.saturation(img, (0, 1)) == 1.0
    assert S.rms_contrast(img, (0, 1)) == pytest.approx(0.5)
    assert S.entropy(img, (0, 1)) == pytest.approx(1.0)
    assert S.saturation(np.full((4, 4), 0.5), (0, 1)) == 0.0


def test_rgb_and_vectors():
    rgb = white_noise((16, 16, 3), 1, (0, 1))[0]
    assert set(S.image_stats(rgb, (0, 1))) >= set(S.SPATIAL_STATS + S.RANGE_STATS)
    vec_stats = S.image_stats(np.linspace(0, 1, 20), (0, 1))
    assert set(vec_stats) == set(S.RANGE_STATS)  # spatial statistics are skipped for vectors
    with pytest.raises(DataError, match="expected an image"):
        S.autocorrelation(np.zeros(5))


def test_restart_agreement():
    a = np.random.default_rng(0).normal(size=(8, 8))
    assert S.restart_agreement(np.stack([a, a, a])) == pytest.approx(1.0)
    assert S.restart_agreement(np.stack([a, -a])) == pytest.approx(-1.0)
    assert np.isnan(S.restart_agreement(a[None]))


def test_quantize_and_reference_bounds():
    x = np.array([0.0, 0.1234, 1.0], np.float32)
    q = S.quantize(x, (0, 1))
    assert q[1] == pytest.approx(round(0.1234 * 255) / 255) and q[0] == 0 and q[2] == 1
    lo, hi = S.tukey_fences(np.arange(1, 101))
    assert lo == pytest.approx(25.75 - 1.5 * 49.5) and hi == pytest.approx(75.25 + 1.5 * 49.5)
    lo, hi = S.zscore_bounds(np.array([1.0, 1.0, 1.0]))
    assert lo == hi == 1.0
