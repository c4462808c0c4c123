"""The verdict's signals and decision as pure functions: nulls, outcomes, and reasons that quote their numbers."""
from __future__ import annotations

import re

import numpy as np
import pytest

from amaxcheck.verdict import decision as V
from amaxcheck.verdict import signals as G
from amaxcheck.verdict.checks import class_degeneracy
from amaxcheck.verdict.naturalness import content_score, naturalness, spectrum_score


def _numbers(text: str) -> list[float]:
    """Every number in a reason, percentages as fractions."""
    return [float(m[0]) / (100 if m[1] else 1) for m in re.findall(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)(%?)", text)]


def _quotes(text: str, value: float, tol: float) -> bool:
    return any(abs(n - value) <= tol for n in _numbers(text))


# --------------------------------------------------------------------------- held-out accuracy
def test_held_out_accuracy_three_answers_and_words_match_numbers():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 400)
    good = np.where(rng.random(400) < 0.9, y, (y + 1) % 10)
    chance_pred = rng.integers(0, 10, 400)
    learned, nothing = G.held_out_accuracy(good, y), G.held_out_accuracy(chance_pred, y)
    assert learned.says == G.LEARNED and nothing.says == G.NOTHING
    undecided = G.held_out_accuracy(chance_pred[:6], y[:6])  # six images cannot rule out a usable model
    assert undecided.says is None and "too few" in undecided.reason
    for s in (learned, nothing, undecided):
        d = s.details
        assert _quotes(s.reason, d["correct"], 0) and _quotes(s.reason, d["n"], 0)
        assert _quotes(s.reason, s.value, 0.006) and _quotes(s.reason, d["chance"], 0.006)
    assert _quotes(nothing.reason, nothing.details["upper_bound"], 0.006)
    # chance is the majority share: predicting the majority class of an unbalanced set is not learning
    y2 = np.r_[np.zeros(90, int), np.ones(10, int)]
    majority = G.held_out_accuracy(np.zeros(100, int), y2)
    assert majority.null == pytest.approx(0.9) and majority.says != G.LEARNED


# --------------------------------------------------------------------------- reach
def test_reach_against_the_untrained_floor():
    floor = np.array([0.12, 0.15, 0.2, 0.11])
    up = G.reach(np.array([1.0, 0.99, 0.97]), floor, chance=0.1)
    down = G.reach(np.array([0.15, 0.18, 0.9]), floor, chance=0.1)
    split = G.reach(np.array([0.15, 0.99, 0.97]), floor, chance=0.1)
    high = G.reach(np.array([1.0, 1.0]), np.array([0.95, 0.99, 0.97]), chance=0.5)
    assert (up.says, down.says, split.says, high.says) == (G.LEARNED, G.NOTHING, None, None)
    assert "already reaches" in high.reason
    for s in (up, down, split):
        assert _quotes(s.reason, s.value, 0.006) and _quotes(s.reason, 0.2, 0.001)  # median and floor quoted
    assert class_degeneracy(0.2, 0.2) == 1.0 and class_degeneracy(1.0, 0.2) == 0.0
    assert class_degeneracy(0.6, 0.2) == pytest.approx(0.5)


# --------------------------------------------------------------------------- weights
def _layer(name, value, fresh, constant=False):
    return G.LayerWeights(name, np.asarray(value, np.float32), np.asarray(fresh, np.float32), constant)


def test_weights_at_initialization_constants_exact_and_random_by_ks():
    rng = np.random.default_rng(0)
    fresh = rng.uniform(-0.1, 0.1, 500)
    untrained = [_layer("conv/kernel", rng.uniform(-0.1, 0.1, 500), fresh), _layer("conv/bias", np.zeros(16), np.zeros(16), True),
                 _layer("head/kernel", rng.uniform(-0.1, 0.1, 640), rng.uniform(-0.1, 0.1, 640))]
    trained = [_layer("conv/kernel", rng.normal(0, 0.3, 500), fresh), _layer("conv/bias", np.full(16, 0.01), np.zeros(16), True),
               _layer("head/kernel", rng.normal(0, 0.3, 640), rng.uniform(-0.1, 0.1, 640))]
    head_bias = _layer("head/bias", np.zeros(10), np.zeros(10), True)
    dead_head = trained[:2] + untrained[2:] + [head_bias]
    assert G.weights_at_initialization(untrained, "head").says == G.NOTHING
    assert G.weights_at_initialization(trained, "head").says == G.LEARNED
    dead = G.weights_at_initialization(dead_head, "head")
    assert dead.says == G.NOTHING and "head was never trained" in dead.reason
    # a KS test that does not reject is no evidence: a bias-free head whose kernel kept its initializer's
    # distribution (a few epochs of training) is not "never trained"
    assert G.weights_at_initialization(trained[:2] + untrained[2:], "head").says == G.LEARNED
    assert G.weights_at_initialization([_layer("tiny/kernel", [1.0], [0.5])]).says is None  # too few values to test


# --------------------------------------------------------------------------- decision
def _s(name, says):
    return G.Signal(name, 0.5, 0.1, says, f"{name} says {says}")


@pytest.mark.parametrize("signals,expected", [
    ([_s("weights", "learned"), _s("reach", "learned"), _s("held_out_accuracy", "learned")], V.HEALTHY),
    ([_s("weights", "learned"), _s("reach", "learned"), _s("held_out_accuracy", "nothing")], V.DEGENERATE),
    ([_s("weights", "nothing"), _s("reach", "nothing"), _s("held_out_accuracy", "learned")], V.INCONCLUSIVE),
    ([_s("weights", "learned"), _s("reach", "nothing"), _s("held_out_accuracy", "learned")], V.HEALTHY),
    ([_s("weights", "nothing"), _s("reach", "nothing")], V.DEGENERATE),
    ([_s("weights", "learned"), _s("reach", "nothing")], V.INCONCLUSIVE),
    ([_s("weights", "nothing"), _s("reach", "learned")], V.DEGENERATE),
    ([_s("weights", "nothing"), _s("reach", "learned"), _s("held_out_accuracy", None)], V.DEGENERATE),
    ([_s("weights", "learned"), _s("reach", "learned")], V.INCONCLUSIVE),
    ([_s("weights", "learned"), _s("reach", "learned"), _s("held_out_accuracy", None)], V.INCONCLUSIVE),
    ([], V.INCONCLUSIVE),
])
def test_decision_table(signals, expected):
    d = V.decide(signals)
    assert d.verdict == expected and d.reasons
    assert d.degenerate == (expected == V.DEGENERATE) and d.degeneracy == V.DEGENERACY[expected]
    if expected == V.INCONCLUSIVE and not any(s.name == "held_out_accuracy" and s.says for s in signals):
        assert any("reference" in r for r in d.reasons)  # an inconclusive answer says how to get a better one


# --------------------------------------------------------------------------- naturalness
def test_naturalness_a_flat_image_is_not_natural_and_white_noise_scores_low():
    assert content_score(0.0) == 0.0 and content_score(0.3) == 1.0
    assert spectrum_score(-2.0) == 1.0 and spectrum_score(0.0) == 0.0
    assert naturalness({"content": 0.0, "spectrum": 1.0, "robustness": 1.0}) == 0.0
    assert naturalness({"content": 1.0, "spectrum": 0.0, "robustness": 0.2}) == pytest.approx(0.1)
    assert np.isnan(naturalness({"content": 1.0}))
