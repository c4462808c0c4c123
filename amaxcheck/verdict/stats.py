"""Image statistics: plain functions over NumPy arrays (scikit-image style).

Inputs: one image ``(H, W)`` or ``(H, W, C)``, any float or integer dtype, in the
model's raw range given by ``input_range`` where a function needs it.
Colour images are averaged to one channel for spatial statistics. Outputs are
Python floats with the ranges documented per function. None of these import
TensorFlow.

Reference values on 16x16 images (see tests): uniform white noise has
``high_frequency_ratio`` ~0.82, ``autocorrelation`` ~0, ``spectral_slope`` ~0;
natural images and digits have ~0.02, ~0.9 and about -2 to -3.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Range = Sequence[float]


def as_unit(image: np.ndarray, input_range: Range) -> np.ndarray:
    """Map values in ``input_range`` to ``[0, 1]`` (float64, clipped)."""
    lo, hi = float(input_range[0]), float(input_range[1])
    return np.clip((np.asarray(image, np.float64) - lo) / (hi - lo), 0.0, 1.0)


def is_image(image: np.ndarray) -> bool:
    """True for ``(H, W)`` / ``(H, W, C)`` arrays with both sides at least 4."""
    a = np.asarray(image)
    return a.ndim in (2, 3) and min(a.shape[:2]) >= 4


def _gray(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image, np.float64)
    if a.ndim == 3:
        a = a.mean(axis=-1)
    if a.ndim != 2:
        from ..errors import DataError

        raise DataError(f"expected an image (H, W) or (H, W, C), got shape {np.shape(image)}; spatial statistics "
                        "need 2-D images (use is_image() to check first)")
    return a


def _radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    return np.sqrt(fx * fx + fy * fy)  # cycles per pixel, 0 .. ~0.707


def power_spectrum(image: np.ndarray) -> np.ndarray:
    """Power spectrum of the mean-removed, Hann-windowed grey image (``fft2`` layout).

    The window stops the jump between opposite borders (the FFT treats the
    image as periodic) from showing up as high-frequency power.
    """
    g = _gray(image)
    window = np.outer(np.hanning(g.shape[0] + 2)[1:-1], np.hanning(g.shape[1] + 2)[1:-1])
    g = (g - g.mean()) * window
    return np.abs(np.fft.fft2(g - g.mean())) ** 2


def high_frequency_ratio(image: np.ndarray, cutoff: float = 0.25) -> float:
    """Fraction of spectral power above ``cutoff`` cycles/pixel (default: half the Nyquist rate).

    Range ``[0, 1]``; 0 for a constant image. White noise gives the area fraction
    above the cutoff (~0.8); smooth, natural images give a few percent.
    """
    p = power_spectrum(image)
    total = p.sum()
    if total <= 1e-20:
        return 0.0
    return float(p[_radial_frequency(p.shape) > cutoff].sum() / total)


def spectral_slope(image: np.ndarray) -> float:
    """Slope of log radial power vs log frequency (least squares over radial bins).

    About 0 for white noise, about -2 for natural images (power ~ 1/f^2).
    NaN for constant images.
    """
    p = power_spectrum(image)
    f = _radial_frequency(p.shape)
    n = max(p.shape)
    bins = np.clip(np.round(f * n).astype(int), 0, n)
    mask = (bins > 0) & (f <= 0.5)
    counts = np.bincount(bins[mask], minlength=n + 1)
    sums = np.bincount(bins[mask], weights=p[mask], minlength=n + 1)
    valid = (counts > 0) & (sums > 1e-20)
    if valid.sum() < 2:
        return float("nan")
    k = np.flatnonzero(valid)
    x, y = np.log(k / n), np.log(sums[valid] / counts[valid])
    return float(np.polyfit(x, y, 1)[0])


def autocorrelation(image: np.ndarray) -> float:
    """Lag-1 autocorrelation, averaged over the vertical and horizontal directions.

    Range ``[-1, 1]``: ~0 for white noise, close to 1 for smooth images, negative
    for checkerboard-like patterns. 0 for constant images.
    """
    g = _gray(image)
    g = g - g.mean()
    var = float((g * g).mean())
    if var <= 1e-20:
        return 0.0
    vertical = float((g[1:] * g[:-1]).mean())
    horizontal = float((g[:, 1:] * g[:, :-1]).mean())
    return 0.5 * (vertical + horizontal) / var


def total_variation(image: np.ndarray) -> float:
    """Mean absolute difference between neighbours divided by the image's standard deviation.

    Contrast-normalized, so independent of the input range and of contrast:
    white noise gives ~1.13 (``2/sqrt(pi)``), smooth images much less. 0 for constant images.
    """
    g = _gray(image)
    sd = float(g.std())
    if sd <= 1e-12:
        return 0.0
    tv = 0.5 * (np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
    return float(tv / sd)


def saturation(image: np.ndarray, input_range: Range, tol: float = 1.0 / 255) -> float:
    """Fraction of values within ``tol`` (of the range) of either bound. Range ``[0, 1]``."""
    u = as_unit(image, input_range)
    return float(np.mean((u <= tol) | (u >= 1.0 - tol)))


def rms_contrast(image: np.ndarray, input_range: Range) -> float:
    """Standard deviation of the image in unit range. Range ``[0, 0.5]``."""
    return float(as_unit(image, input_range).std())


def noise_sigma(image: np.ndarray, input_range: Range) -> float:
    """Estimated Gaussian noise standard deviation in unit range (Immerkaer 1996, fast Laplacian mask).

    ``sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * M|`` with ``M = [[1,-2,1],[-2,4,-2],[1,-2,1]]``;
    about 0.29 for uniform white noise over the whole range, near 0 for smooth images.
    """
    g = _gray(as_unit(image, input_range))
    h, w = g.shape
    lap = (g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
           - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
           + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:])
    return float(np.sqrt(np.pi / 2.0) * np.abs(lap).sum() / (6.0 * (w - 2) * (h - 2)))


def entropy(image: np.ndarray, input_range: Range) -> float:
    """Shannon entropy in bits of the image quantized to 256 levels (``skimage.measure.shannon_entropy``). Range ``[0, 8]``."""
    from skimage.measure import shannon_entropy

    u = as_unit(image, input_range)
    return float(shannon_entropy(np.round(u * 255).astype(np.uint8)))


def restart_agreement(images: np.ndarray) -> float:
    """Mean pairwise Pearson correlation between restarts of one class. Range ``[-1, 1]``; NaN for one restart."""
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    if len(flat) < 2:
        return float("nan")
    flat = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1)
    keep = norms > 1e-12
    if keep.sum() < 2:
        return float("nan")
    flat = flat[keep] / norms[keep, None]
    corr = flat @ flat.T
    iu = np.triu_indices(len(flat), 1)
    return float(corr[iu].mean())


#: statistics computed by :func:`image_stats` for images; vectors get only the range-based ones
SPATIAL_STATS = ("high_frequency_ratio", "spectral_slope", "autocorrelation", "total_variation", "noise_sigma")
RANGE_STATS = ("saturation", "rms_contrast", "entropy")


def image_stats(image: np.ndarray, input_range: Range) -> dict[str, float]:
    """Every statistic above for one input. Spatial ones are skipped for non-image inputs."""
    out = {
        "saturation": saturation(image, input_range),
        "rms_contrast": rms_contrast(image, input_range),
        "entropy": entropy(image, input_range),
    }
    if is_image(image):
        unit = as_unit(image, input_range)
        out.update(
            high_frequency_ratio=high_frequency_ratio(unit),
            spectral_slope=spectral_slope(unit),
            autocorrelation=autocorrelation(unit),
            total_variation=total_variation(unit),
            noise_sigma=noise_sigma(image, input_range),
        )
    return out


def quantize(images: np.ndarray, input_range: Range, levels: int = 256) -> np.ndarray:
    """Round to ``levels`` evenly spaced values over ``input_range`` (what saving an 8-bit PNG does)."""
    lo, hi = float(input_range[0]), float(input_range[1])
    u = as_unit(images, input_range)
    return (lo + np.round(u * (levels - 1)) / (levels - 1) * (hi - lo)).astype(np.float32)


def tukey_fences(values: np.ndarray, k: float = 1.5) -> tuple[float, float]:
    """``(Q1 - k*IQR, Q3 + k*IQR)`` of reference values: bounds derived from data, as data-validation tools do."""
    q1, q3 = np.nanpercentile(np.asarray(values, np.float64), [25, 75])
    return float(q1 - k * (q3 - q1)), float(q3 + k * (q3 - q1))


def zscore_bounds(values: np.ndarray, z: float = 3.0) -> tuple[float, float]:
    """``mean ± z*std`` of reference values."""
    v = np.asarray(values, np.float64)
    m, s = float(np.nanmean(v)), float(np.nanstd(v))
    return m - z * s, m + z * s
