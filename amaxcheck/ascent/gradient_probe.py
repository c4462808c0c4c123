"""Does a model's class score depend on its input through a gradient? Asked once per compiled engine.

Every gradient here is taken inside a compiled ``tf.function``, never eagerly
through the user's model. Eagerly, TensorFlow runs each op's whole backward
function, so a convolution also computes its *filter* gradient even when only
the input gradient is wanted; on some CPUs the oneDNN ``conv2d_backprop_filter``
kernel that this reaches crashes the process (a segmentation fault on the
SeparableConv2D + BatchNorm emotion model shipped in the ``fer`` package). In a
graph only what the input gradient needs is computed, as in the ascent itself.

The functions are built per call and hold the model only while they run: no
model is kept in module state.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..errors import NoGradientError
from .model_adapter import ModelAdapter, _is_functional

__all__ = ["check_gradient_path"]

_PREPROCESS_STEP = "preprocess (the callable passed to synthesize)"


def _gradient_flags(fn: Callable[[tf.Tensor], Any], x: tf.Tensor) -> tuple[bool, bool]:
    """``(has_path, nonzero)`` for the gradient of ``sum(fn(x))`` with respect to ``x``, in a ``tf.function``.

    ``has_path`` is False when there is no differentiable path at all; ``nonzero``
    is True when the gradient is not zero everywhere.
    """
    @tf.function
    def probe(v: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(v)
            parts = [tf.reduce_sum(tf.cast(o, tf.float32)) for o in tf.nest.flatten(fn(v))]
            total = tf.add_n(parts)
        grad = tape.gradient(total, v)
        if grad is None:  # decided while tracing: the graph has no path from v to the scores
            return tf.constant(False), tf.constant(False)
        return tf.constant(True), tf.reduce_any(tf.not_equal(grad, 0.0))

    has_path, nonzero = probe(x)
    return bool(has_path.numpy()), bool(nonzero.numpy())


def _through(sub: Any, adapter: ModelAdapter, preprocess: Callable[[tf.Tensor], tf.Tensor] | None
             ) -> Callable[[tf.Tensor], Any]:
    """``v -> sub(model inputs for v)``: the sub-model's output for raw-range probes."""
    def run(v: tf.Tensor) -> Any:
        return sub(adapter.model_inputs(adapter.prepared(v, preprocess)), training=False)

    return run


def check_gradient_path(adapter: ModelAdapter, x_raw: np.ndarray,
                        preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None) -> None:
    """Raise :class:`NoGradientError` if the class scores do not depend on the input through a gradient.

    ``x_raw`` is a batch of probe inputs in the raw range (the engine passes
    starting points and random inputs across the range): a gradient that is zero
    at one point (a ReLU that does not fire there) is not a missing path.
    The error names the first step (preprocess or layer) whose output no longer depends on the input.
    """
    x = tf.constant(x_raw, tf.float32)
    has_path, nonzero = _gradient_flags(lambda v: adapter.scores(adapter.prepared(v, preprocess))[0], x)
    if nonzero:
        return
    culprit = _find_gradient_cut(adapter, x, preprocess)
    where = f' The first step whose output does not depend on the input through a gradient is "{culprit}".' \
        if culprit else ""
    if not has_path:
        raise NoGradientError(
            f"the class scores have no gradient with respect to the input (no differentiable path).{where} "
            "Activation maximization needs one: remove or replace non-differentiable steps (argmax, rounding, "
            "casts to int, stop_gradient, lookups), or synthesize for the sub-model after them."
        )
    raise NoGradientError(
        f"the gradient of the class scores with respect to the input is zero at all {len(x_raw)} probed inputs "
        f"(the starting points and random inputs across the input range).{where} Either a step cuts the gradient "
        "(argmax, rounding, casts to int, stop_gradient, lookups: remove it or synthesize for the sub-model after it), "
        "or the activations never fire for inputs in this range (dead ReLUs, saturated sigmoids): check "
        "input_range and preprocess against what the model was trained on."
    )


def _find_gradient_cut(adapter: ModelAdapter, x: tf.Tensor, preprocess: Callable | None = None) -> str | None:
    """The first step (preprocess, then the layers in order) whose output has no nonzero input gradient.

    Runs only on the error path; each layer gets its own compiled probe.
    """
    if preprocess is not None:
        _, nonzero = _gradient_flags(preprocess, x)
        if not nonzero:
            return _PREPROCESS_STEP
    model = adapter.model
    if not _is_functional(model):
        return None
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            sub = keras.Model(model.inputs, layer.output)
            _, nonzero = _gradient_flags(_through(sub, adapter, preprocess), x)
        except Exception:  # noqa: BLE001, S112 - layers with odd outputs (shared, nested, non-tensor): skip, keep looking
            continue
        if not nonzero:
            return layer.name
    return None
