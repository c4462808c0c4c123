"""What a team writes to test its classifier with amaxcheck's pytest plugin.

    pytest examples/digits                     # installed amaxcheck registers the plugin
    pytest examples/digits --amax-update-baselines   # after an intended model change

Failing tests leave, under amaxcheck-artifacts/pytest/<test>/, one PNG per
ideal input, a labelled grid, the arrays and summary.json.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import amaxcheck

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def digits_model():
    import keras

    return keras.saving.load_model(HERE / "digits_cnn.keras")


@pytest.fixture(scope="session")
def reference():
    data = np.load(HERE / "reference.npz")
    return data["x"], data["y"]


def test_every_digit_has_a_real_ideal_input(amax, digits_model):
    result = amax.synthesize(digits_model, classes="all")
    amaxcheck.assert_confident(result, min_p=0.9)
    amaxcheck.assert_in_top_k(result, k=1)
    amaxcheck.assert_not_degenerate(result)


def test_ideal_inputs_look_like_the_real_digits(amax, digits_model, reference):
    """With labelled reference data the verdict also checks that each class's ideal input matches its own digits."""
    x, y = reference
    result = amax.synthesize(digits_model, classes="all")  # served from the session cache
    amaxcheck.assert_not_degenerate(result, reference=x, reference_labels=y)


@pytest.mark.amaxcheck(restarts=2)
def test_ideal_inputs_are_smooth_and_unsaturated(amax, digits_model):
    result = amax.synthesize(digits_model, classes=[0, 1, 7])
    amaxcheck.assert_stats_within(result, saturation=(None, 0.5), autocorrelation=(0.5, None))


def test_no_drift_from_the_last_released_model(amax, digits_model, amax_baseline):
    """Per-class statistics and verdicts stay within tolerance of the committed baseline."""
    result = amax.synthesize(digits_model, classes="all")
    amax_baseline.check(amax.check(result))
