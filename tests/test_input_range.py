"""A declared input range that contradicts the model's first layer or the reference images: caught before any ascent."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import amaxcheck
from amaxcheck import cli
from amaxcheck.ascent.input_range import check_model_range, check_reference_spread
from amaxcheck.errors import ConfigError, InputRangeError

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "examples" / "digits" / "digits_cnn.keras")
REFERENCE = str(ROOT / "examples" / "digits" / "reference.npz")


def _model(first: keras.layers.Layer, name: str = "m") -> keras.Model:
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(first(inp))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out, name=name)


def _normalization(low: float, high: float) -> keras.layers.Normalization:
    layer = keras.layers.Normalization()
    layer.adapt(np.random.default_rng(0).uniform(low, high, (64, 8, 8, 1)).astype(np.float32))
    return layer


@pytest.mark.parametrize("first, declared, fix", [
    (keras.layers.Rescaling(1 / 255), (0, 1), "--input-range 0,255"),
    (keras.layers.Rescaling(1 / 255), (-1, 1), "--input-range 0,255"),
    (keras.layers.Rescaling(1 / 127.5, offset=-1), (0, 1), "--input-range 0,255"),
    (keras.layers.Rescaling(255.0), (0, 255), "--input-range 0,0.00392157"),
])
def test_rescaling_first_layer_names_the_range_it_expects(first, declared, fix):
    model = _model(first)
    with pytest.raises(InputRangeError, match=fix) as info:
        amaxcheck.synthesize(model, [0], steps=2, restarts=1, input_range=declared, progress=False)
    assert "Rescaling(scale=" in str(info.value) and isinstance(info.value, ConfigError)


def test_rescaling_accepts_the_range_it_expects():
    for first, declared in ((keras.layers.Rescaling(1 / 255), (0, 255)),
                            (keras.layers.Rescaling(1 / 127.5, offset=-1), (0, 255)),
                            (keras.layers.Rescaling(2.0, offset=-1), (0, 1))):
        result = amaxcheck.synthesize(_model(first), [0], steps=2, restarts=1, input_range=declared, progress=False)
        assert result.images.max() <= declared[1]


@pytest.mark.parametrize("fitted, declared, fix", [
    ((0, 255), (0, 1), "--input-range 0,255"),
    ((0, 1), (0, 255), "--input-range 0,1"),
    ((-1, 1), (0, 255), "--input-range -1,1"),
])
def test_normalization_statistics_name_the_range(fitted, declared, fix):
    model = _model(_normalization(*fitted))
    with pytest.raises(InputRangeError, match=fix):
        check_model_range(model, declared)
    check_model_range(model, fitted)  # the range it was fitted on passes


def test_layer_evidence_is_not_read_through_a_preprocess_callable():
    model = _model(keras.layers.Rescaling(1 / 255))
    result = amaxcheck.synthesize(model, [0], steps=2, restarts=1, input_range=(0, 1), progress=False,
                                  preprocess=lambda x: x * 255.0)
    assert result.images.shape == (1, 8, 8, 1)


def test_reference_in_a_corner_of_the_range():
    rng = np.random.default_rng(0)
    unit = rng.uniform(0, 1, (20, 16, 16, 1))
    with pytest.raises(InputRangeError, match=r"only 0\.4% of --input-range 0,255.*--input-range 0,1"):
        check_reference_spread(unit, (0, 255))
    check_reference_spread(unit, (0, 1))
    check_reference_spread(unit * 0.3, (0, 1))  # dim images are not a wrong range
    check_reference_spread(np.full((4, 16, 16, 1), 0.5), (0, 255))  # constant images say nothing


def test_gate_with_a_wrong_range_stops_before_the_ascent(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AMAXCHECK_STATUS", "1")  # status lines on, as on a terminal
    code = cli.main(["gate", DIGITS, "--reference", REFERENCE, "--input-range", "0,255",
                     "--json", str(tmp_path / "r.json")])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "loading" not in line]
    assert code == 2
    # one line: the "synthesizing ..." status line the gate prints before an ascent never came
    assert len(err) == 1 and "--input-range 0,1" in err[0] and "reference images span" in err[0], err
    assert not (tmp_path / "r.json").exists()
