"""check(): report contents, thresholds, statistics bounds, decode, and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

import amaxcheck
from amaxcheck.errors import ArgumentTypeError, ConfigError, DataError, ModelError, ReferenceDataError

from . import models as M


@pytest.fixture(scope="module")
def result(digits_model, digits_labels):
    return amaxcheck.synthesize(digits_model, [0, 3, 8], labels=digits_labels, steps=128, restarts=2, progress=False)


def test_report_has_per_class_checks_and_is_json_ready(result, digits_reference):
    x, y = digits_reference
    rep = amaxcheck.check(result, reference=x, reference_labels=y)
    assert [c.index for c in rep.classes] == [0, 3, 8]
    c = rep.for_class("3")
    assert c.confidence > 0.9 and c.in_top_k and c.top_k[0].index == 3
    assert {ch.name for ch in c.checks} == {"confidence", "top_k", "reference_recall", "degeneracy"}
    assert c.check("reference_recall").status == "pass" and c.check("reference_recall").value > 0.9
    assert set(c.signals) == {"reach", "content", "spectrum", "robustness", "alignment"}
    assert 0.0 <= c.naturalness <= 1.0 and rep.verdict == "healthy" and not rep.degenerate
    assert {"high_frequency_ratio", "autocorrelation", "restart_agreement", "robustness"} <= set(c.stats)
    doc = json.loads(json.dumps(rep.to_dict()))
    assert doc["schema_version"] == 1 and doc["classes"][1]["label"] == "3"
    assert doc["verdict"] == "healthy" and doc["degenerate"] is False and doc["degeneracy"] == 0.0
    assert doc["controls"]["kind"].startswith("re-initialized twins") and doc["controls"]["twins"] == 3
    assert doc["controls"]["reach_max"] < 0.5  # the untrained floor a reader compares with
    assert {s["name"] for s in doc["signals"]} == {"weights", "reach", "held_out_accuracy"}
    assert "DEGENERATE" not in rep.table().splitlines()[1]


def test_impossible_thresholds_fail_with_actionable_messages(result):
    rep = amaxcheck.check(result, min_confidence=1.0, verdict=False,
                          stat_bounds={"total_variation": (None, 0.01), "saturation": (0.0, None)})
    assert not rep.passed
    c = rep.classes[0]
    conf = c.check("confidence")
    assert conf.status == "fail" and "< 1" in conf.message and "runner-up" in conf.message
    tv = c.check("stat:total_variation")
    assert tv.status == "fail" and "bounds [-inf, 0.01]" in tv.message
    assert c.check("stat:saturation").status == "pass"
    assert np.isnan(rep.degeneracy) and all(ch.name != "degeneracy" for ch in c.checks)


def test_top_k_names_runner_up_classes_and_decode_callable(result):
    rep = amaxcheck.check(result, top_k=3, verdict=False)
    assert len(rep.classes[0].top_k) == 3

    def decode(probs, top=5):
        order = np.argsort(-probs[0])[:top]
        return [[(f"n{i:03d}", f"digit-{i}", float(probs[0, i])) for i in order]]

    rep = amaxcheck.check(result, top_k=2, verdict=False, decode=decode)
    assert rep.classes[1].top_k[0].label == "digit-3"
    with pytest.raises(ValueError, match="decode callable failed"):
        amaxcheck.check(result, verdict=False, decode=lambda p: None)


@pytest.mark.parametrize("reference, labels, message", [
    (np.zeros((5, 8, 8, 1)), None, r"shape \(5, 8, 8, 1\).*\(n, 16, 16, 1\)"),
    (np.full((5, 16, 16, 1), 200.0), None, "divide by 255"),
    (np.array([["a"] * 16] * 16), None, "dtype"),
    (np.zeros((5, 16, 16, 1)), np.zeros(4, int), "one integer label per image"),
    (np.zeros((5, 16, 16, 1)), np.full(5, 12), "classes 0..9"),
    (np.full((2, 16, 16, 1), np.nan), None, "NaN"),
    (np.zeros((0, 16, 16, 1)), None, "no images"),
])
def test_bad_reference_data_is_explained(result, reference, labels, message):
    with pytest.raises(ReferenceDataError, match=message):
        amaxcheck.check(result, reference=reference, reference_labels=labels)


def test_bad_arguments(result):
    with pytest.raises(ReferenceDataError, match="without reference images"):
        amaxcheck.check(result, reference_labels=[0, 1])
    with pytest.raises(ConfigError, match="top_k must be an integer >= 1 and <= 10"):
        amaxcheck.check(result, top_k=11)
    with pytest.raises(ConfigError, match="min_confidence must be a number in"):
        amaxcheck.check(result, min_confidence=1.5)
    with pytest.raises(ConfigError, match="unknown statistics"):
        amaxcheck.check(result, stat_bounds={"sharpness": (0, 1)})
    with pytest.raises(ConfigError, match="'tukey' or 'zscore'"):
        amaxcheck.check(result, stat_bounds={"entropy": "iqr"})
    with pytest.raises(ArgumentTypeError, match="SynthesisResult"):
        amaxcheck.check(np.zeros((2, 16, 16, 1)))
    broken = result.subset([True] * len(result))
    broken.images = broken.images.copy()
    broken.images[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        amaxcheck.check(broken)


def test_single_softmax_unit_is_refused():
    with pytest.raises(ModelError, match="softmax over a single unit"):
        amaxcheck.synthesize(M.single_softmax_unit_model(), [0], steps=4, restarts=1, progress=False)


def test_non_image_inputs_skip_spatial_statistics_but_still_run():
    r = amaxcheck.synthesize(M.tabular_model(), "all", steps=32, restarts=2, progress=False)
    rep = amaxcheck.check(r)
    c = rep.classes[0]
    assert "high_frequency_ratio" not in c.stats and "entropy" in c.stats
    assert set(c.signals) >= {"reach", "robustness"} and "spectrum" not in c.signals
    assert np.isfinite(rep.degeneracy)


def test_twin_control_is_a_permutation_and_leaves_the_model_alone(digits_model):
    before = M.weights_of(digits_model)
    twin = amaxcheck.shuffled_twin(digits_model, seed=3)
    for w, t in zip(before, twin.get_weights()):
        assert np.array_equal(np.sort(w.ravel()), np.sort(t.ravel()))
    assert not all(np.array_equal(w, t) for w, t in zip(before, twin.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(before, M.weights_of(digits_model)))


def test_statistic_bounds_can_come_from_reference_data(result, digits_reference):
    x, y = digits_reference
    rep = amaxcheck.check(result, reference=x, verdict=False,
                          stat_bounds={"rms_contrast": "zscore", "autocorrelation": "tukey"})
    check = rep.classes[0].check("stat:autocorrelation")
    # The fences are the reference images' own Tukey fences, and the status follows from them.
    reference_values = np.array([amaxcheck.stats.image_stats(im, (0, 1))["autocorrelation"] for im in x[:256]])
    lo, hi = check.threshold
    assert (lo, hi) == pytest.approx(amaxcheck.stats.tukey_fences(reference_values))
    assert check.status == ("pass" if lo <= check.value <= hi else "fail")
    with pytest.raises(ReferenceDataError, match="pass reference="):
        amaxcheck.check(result, verdict=False, stat_bounds={"rms_contrast": "tukey"})
    with pytest.raises(ConfigError, match="use \\(lo, hi\\), 'tukey' or 'zscore'"):
        amaxcheck.check(result, reference=x, verdict=False, stat_bounds={"rms_contrast": "iqr"})


def test_without_controls_only_held_out_accuracy_decides(digits_reference):
    """A subclassed model (Keras cannot clone it) still gets its twins, lent in place; without them labels decide."""
    model = M.SubclassedNet(n_classes=3)
    model(np.zeros((1, 8, 8, 1), np.float32))
    result = amaxcheck.synthesize(model, [0, 1], input_shape=(8, 8, 1), steps=8, restarts=1, progress=False)
    rep = amaxcheck.check(result, model)  # untrained: its weights are still a draw from their initializers
    assert rep.verdict == "degenerate" and rep.controls["twins"] == 3
    assert next(s for s in rep.signals if s["name"] == "weights")["says"] == "nothing"
    rep = amaxcheck.check(result, model, twin=False)
    assert rep.verdict == "inconclusive" and rep.signals == [] and "twins" not in rep.controls
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (60, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, 60)
    rep = amaxcheck.check(result, model, reference=x, reference_labels=y, twin=False)
    assert [s["name"] for s in rep.signals] == ["held_out_accuracy"] and rep.verdict == "degenerate"


def test_controls_lend_the_model_and_restore_every_variable(monkeypatch):
    """The twins are the model re-initialized in place: afterwards every variable is back bit for bit, errors included."""
    from amaxcheck.ascent.config import AscentConfig
    from amaxcheck.testing import digits as D
    from amaxcheck.verdict import controls

    model = D.build_cnn(seed=3)
    model.set_weights([w + 0.25 for w in model.get_weights()])  # "trained": far from any initializer's draw
    before = [w.numpy().copy() for w in model.weights]
    config = AscentConfig(steps=8, restarts=1)
    evidence = controls.learned_nothing_control(model, config, 10)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, model.weights))
    assert evidence.reach.shape == (3, 2) and evidence.images.shape == (2, 16, 16, 1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(controls, "_ascend_control", interrupted)
    with pytest.raises(KeyboardInterrupt):
        controls.learned_nothing_control(model, config.replace(steps=9), 10)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, model.weights))
