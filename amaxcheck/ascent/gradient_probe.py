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

import re
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..errors import NoGradientError
from .model_adapter import ModelAdapter, _is_functional

__all__ = ["check_gradient_path"]

_PREPROCESS_STEP = '"preprocess (the callable passed to synthesize)"'


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
    The error names the first step (preprocess, or the model operation: a layer or a ``keras.ops`` call)
    whose output no longer depends on the input.
    """
    x = tf.constant(x_raw, tf.float32)
    # Weighted by class index: a plain sum of a binary head's logits [-z/2, z/2] is 0 for every input.
    weights = tf.range(1, adapter.n_classes + 1, dtype=tf.float32)
    has_path, nonzero = _gradient_flags(lambda v: adapter.scores(adapter.prepared(v, preprocess))[0] * weights, x)
    if nonzero:
        return
    culprit = _find_gradient_cut(adapter, x, preprocess)
    where = f' The first step whose output does not depend on the input through a gradient is {culprit}.' \
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
    """The first step (preprocess, then the model's operations in order) that cuts the input gradient.

    Functional and Sequential models are walked operation by operation (layers and
    ``keras.ops`` calls alike, in topological order): the culprit is the first
    operation whose inputs have a nonzero input gradient but whose outputs do not,
    named as ``"round" (keras.ops.round)`` or ``"cut_here" (StopGradient layer)``.
    Runs only on the error path; each operation gets its own compiled probe.
    """
    if preprocess is not None:
        _, nonzero = _gradient_flags(preprocess, x)
        if not nonzero:
            return _PREPROCESS_STEP
    model = adapter.model
    if not _is_functional(model):
        return None
    graph = getattr(model, "_functional", None) or model  # a Sequential model keeps its graph there
    nodes_by_depth = getattr(graph, "_nodes_by_depth", None)
    if not nodes_by_depth:
        return None
    optimized = model.inputs[adapter.input_index]
    live: dict[int, bool] = {id(optimized): True}  # tensor -> has a nonzero gradient w.r.t. the optimized input
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            culprit = _node_cut(node, model, adapter, x, preprocess, live)
            if culprit:
                return culprit
    return None


def _node_cut(node: Any, model: Any, adapter: ModelAdapter, x: tf.Tensor, preprocess: Callable | None,
              live: dict[int, bool]) -> str | None:
    """The description of ``node``'s operation if it cuts the gradient; records its outputs in ``live``."""
    op = node.operation
    outputs = list(tf.nest.flatten(node.output_tensors))
    if isinstance(op, keras.layers.InputLayer) or not outputs:
        return None
    inputs_live = any(live.get(id(t), False) for t in tf.nest.flatten(node.input_tensors))
    if not inputs_live:  # a branch that never depended on the optimized input (a fixed input, a constant)
        return None
    try:
        sub = keras.Model(model.inputs, outputs)
        _, nonzero = _gradient_flags(_through(sub, adapter, preprocess), x)
    except Exception:  # noqa: BLE001 - operations with odd outputs (nested models, non-tensors): assume they pass
        nonzero = True
    for t in outputs:
        live[id(t)] = nonzero
    return None if nonzero else _describe(op)


def _describe(op: Any) -> str:
    """``"round" (keras.ops.round)`` or ``"dense" (Dense layer)``: the operation's name and what it is."""
    kind = type(op).__name__
    if isinstance(op, keras.layers.Layer):
        return f'"{op.name}" ({kind} layer)'
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", kind).lower()
    function = f"keras.ops.{snake}" if hasattr(keras.ops, snake) else f"{type(op).__module__}.{kind}"
    return f'"{op.name}" ({function})'
