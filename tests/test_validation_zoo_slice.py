"""A slice of the validation zoo (``benchmarks/verdict_zoo.py`` runs all of it) in the suite.

The depthwise-separable BatchNorm CNN is where the old verdict failed most (every
healthy one called degenerate), and the MLP takes 2-D input without a channel
axis. Trained here on scikit-learn's digits; margins measured on 3 seeds in the
benchmark: held-out accuracy 0.08-0.12 for random labels (chance 0.12, the
99.9% upper bound stays below 0.2 while "usable" starts at 0.56) and >= 0.9 for
standard training.
"""
from __future__ import annotations

import pytest

import amaxcheck
from amaxcheck.testing import zoo

SETTINGS = amaxcheck.AscentConfig(steps=64, restarts=2, seed=0)
CASES = [("separable_cnn", "standard", "healthy"), ("separable_cnn", "random_labels", "degenerate"),
         ("separable_cnn", "untrained", "degenerate"), ("mlp", "standard", "healthy")]


@pytest.fixture(scope="module")
def digits_data():
    return zoo.load("digits")


@pytest.mark.parametrize("arch,kind,expected", CASES)
def test_zoo_slice_verdicts(digits_data, arch, kind, expected):
    model, info = zoo.train_zoo_model(digits_data, arch, kind, seed=0)
    data = zoo.adapt(digits_data, arch)
    result = amaxcheck.synthesize(model, "all", config=SETTINGS.replace(input_range=data.input_range),
                                  progress=False)
    with_ref = amaxcheck.check(result, reference=data.x_test[:200], reference_labels=data.y_test[:200])
    without = amaxcheck.check(result)
    assert with_ref.verdict == expected, (info, with_ref.reasons)
    if kind == "untrained":
        assert without.verdict == "degenerate", without.reasons
    else:  # trained: without labelled held-out data the honest answer is inconclusive, never a wrong one
        assert without.verdict == "inconclusive", without.reasons
