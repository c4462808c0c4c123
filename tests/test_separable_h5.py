"""Gradients through user models are compiled, never eager (defect 0: a segfault on a public model).

The ``fer`` package's emotion model (a mini-Xception: SeparableConv2D + BatchNorm +
residual Adds, legacy .h5, inputs in [-1, 1]) killed ``amaxcheck gate`` with a
segmentation fault on some CPUs: the gradient probe took the input gradient
eagerly, which runs oneDNN's ``conv2d_backprop_filter``. These tests train a
small model of the same kind on digits and gate it through the real command, and
check that the gradient probe runs the model only inside ``tf.function``.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from amaxcheck.errors import NoGradientError

from .commands import amaxcheck_command

ROOT = Path(__file__).resolve().parents[1]


def _separable_cnn():
    """A mini-Xception in miniature: SeparableConv2D + BatchNorm blocks with a residual Add, softmax head."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    shortcut = layers.BatchNormalization()(layers.Conv2D(16, 1, strides=2, padding="same", use_bias=False)(x))
    y = layers.SeparableConv2D(16, 3, padding="same", use_bias=False)(x)
    y = layers.Activation("relu")(layers.BatchNormalization()(y))
    y = layers.SeparableConv2D(16, 3, padding="same", use_bias=False)(y)
    y = layers.MaxPooling2D(3, strides=2, padding="same")(layers.BatchNormalization()(y))
    x = layers.Add()([y, shortcut])
    x = layers.Conv2D(10, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Activation("softmax", name="predictions")(x), name="mini_xception")


@pytest.fixture(scope="module")
def separable_h5(tmp_path_factory) -> Path:
    """The model trained briefly on digits scaled to [-1, 1], saved as legacy .h5."""
    from amaxcheck.testing import digits

    data = digits.load()
    model = _separable_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train * 2.0 - 1.0, data.y_train, epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("separable") / "mini_xception.h5"
    model.save(path)
    return path


def test_gate_runs_on_a_separable_batchnorm_h5_model_in_minus_one_to_one(separable_h5, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    args = ["gate", str(separable_h5), "--input-range", "-1,1", "--steps", "16", "--restarts", "1",
            "--classes", "0,1", "--json", "report.json"]
    proc = subprocess.run([*amaxcheck_command(), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    doc = json.loads((tmp_path / "report.json").read_text())
    assert len(doc["classes"]) == 2, sorted(doc)


def _recording(fn=None):
    """A preprocess that notes whether each call runs eagerly (a real function, not a mock)."""
    import tensorflow as tf

    calls: list[bool] = []

    def preprocess(x):
        calls.append(tf.executing_eagerly())
        return x if fn is None else fn(x)

    return preprocess, calls


def test_the_gradient_probe_never_runs_the_model_eagerly(separable_h5):
    import keras

    from amaxcheck.ascent.gradient_probe import check_gradient_path
    from amaxcheck.ascent.model_adapter import adapt

    model = keras.saving.load_model(separable_h5, compile=False)  # an adapter holds its model only weakly
    adapter = adapt(model)
    preprocess, calls = _recording()
    probes = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32)
    check_gradient_path(adapter, probes, preprocess)
    assert calls and not any(calls), calls


def test_the_search_for_the_cut_never_runs_the_model_eagerly():
    import tensorflow as tf

    from amaxcheck.ascent.gradient_probe import check_gradient_path
    from amaxcheck.ascent.model_adapter import adapt
    from tests import models as M

    model = M.no_gradient_model()  # kept alive here: an adapter holds its model only weakly
    adapter = adapt(model)
    preprocess, calls = _recording(tf.identity)
    probes = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    with pytest.raises(NoGradientError, match='no differentiable path.*"cut_here"'):
        check_gradient_path(adapter, probes, preprocess)
    assert len(calls) > 2 and not any(calls), calls  # the first probe, the preprocess check, per-layer probes
