"""Property-based checks with hypothesis: for any class and seed, the ideal input behaves.

    pytest examples/digits/test_properties.py --hypothesis-profile=amaxcheck

hypothesis draws classes and ascent settings, and when a property fails it
shrinks to the simplest class and settings and prints the exact
amaxcheck.synthesize(...) call that reproduces it.
"""
from __future__ import annotations

from pathlib import Path

import keras
from hypothesis import given

import amaxcheck.strategies as ast
from amaxcheck import properties

MODEL = keras.saving.load_model(Path(__file__).resolve().parent / "digits_cnn.keras")
FAST = ast.ascent_settings(steps=64, restarts=1, parameterization="pixel", transforms="auto")


@given(result=ast.synthesized(MODEL, classes=ast.target_class_lists(MODEL, max_size=3), settings=FAST))
@ast.slow_settings(max_examples=4)
def test_every_drawn_class_reaches_confidence(result):
    for view in result:
        assert view.confidence.max() > 0.9, f"class {view.label} peaks at p={view.confidence.max():.2f}"


@given(cls=ast.target_classes(MODEL), settings=FAST)
@ast.slow_settings(max_examples=3)
def test_ideal_input_survives_8bit_quantization(cls, settings):
    outcome = properties.survives_quantization(MODEL, [cls], settings)
    assert outcome.holds, outcome
