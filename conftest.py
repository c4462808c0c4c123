"""Root conftest: shared, real models for the test suite (no mocks, no downloads).

``digits_model`` is the committed example model (a CNN trained on
scikit-learn's digits by examples/digits/train.py). Zoo models for the
verdict tests are trained on demand, once per test session, in tests/zoo.py.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent
EXAMPLE_DIR = ROOT / "examples" / "digits"


@pytest.fixture(scope="session")
def digits_model_path() -> Path:
    return EXAMPLE_DIR / "digits_cnn.keras"


@pytest.fixture(scope="session")
def digits_model(digits_model_path):
    import keras

    return keras.saving.load_model(digits_model_path)


@pytest.fixture(scope="session")
def digits_labels() -> list[str]:
    return (EXAMPLE_DIR / "labels.txt").read_text().split()


@pytest.fixture(scope="session")
def digits_reference():
    import numpy as np

    data = np.load(EXAMPLE_DIR / "reference.npz")
    return data["x"], data["y"]
