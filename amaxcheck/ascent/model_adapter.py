"""Read class scores out of a user's Keras model without modifying it.

:func:`adapt` inspects the model once and returns a :class:`ModelAdapter`
that the engine calls inside its compiled loop:

* picks the optimized input (multi-input models: by name, others held fixed)
  and the class-score output (multi-output models: by name or index);
* finds the pre-softmax tensor when the model ends in a softmax/sigmoid
  (``Dense(activation=...)``, ``Activation``, ``Softmax``), reading it through
  a new functional view of the *same* layers; the user's model is never
  rebuilt, mutated or re-saved;
* reads the head (:data:`HEADS`): ``"softmax"`` (exclusive classes),
  ``"binary"`` (one sigmoid unit ``p``: two classes with logits ``[-z/2, z/2]``,
  so class 1 ascends the logit ``z``, class 0 descends it, and the probabilities
  are exactly ``[1 - p, p]``) or ``"multilabel"`` (N independent sigmoids:
  each class its own logit ``z_c`` and probability ``sigmoid(z_c)``; nothing
  is normalized across classes);
* otherwise treats the output as logits, or, if it looks like probabilities
  it cannot bypass (e.g. subclassed models), optimizes log-probabilities and
  says so in ``logits_source``.

An adapter refers to its model only weakly (compiled engines are cached per
model and must not keep it alive): :attr:`ModelAdapter.model` raises a
:class:`~amaxcheck.errors.ModelError` once the model is gone.
"""
from __future__ import annotations

import difflib
import hashlib
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..defaults import HEADS
from ..errors import ModelError


@dataclass
class ModelAdapter:
    model_ref: Any  # weakref.ref to the keras model
    input_shape: tuple[int, ...]  # without batch
    input_dtype: str
    input_index: int
    input_names: list[str]
    output_index: int | None
    n_classes: int
    score_kind: str  # how the output is read: "softmax" | "sigmoid" | "logits" | "probabilities"
    logits_source: str
    fixed_inputs: dict[int, np.ndarray] = field(default_factory=dict)
    _tap: Any = None  # keras.Model from inputs to [pre-activation, *layer outputs]
    _head: Any = None  # Dense layer whose activation is bypassed, if any
    _tap_layers: tuple[str, ...] = ()
    head: str = "softmax"  # what the classes mean: one of HEADS

    @property
    def model(self) -> Any:
        model = self.model_ref()
        if model is None:
            raise ModelError("the model this adapter reads was deleted; pass the model again")
        return model

    # ------------------------------------------------------------------ graph
    def model_inputs(self, x: tf.Tensor) -> Any:
        """Full model input structure with ``x`` in the optimized slot."""
        if len(self.input_names) == 1:
            return x
        batch = tf.shape(x)[0]
        inputs = []
        for i in range(len(self.input_names)):
            if i == self.input_index:
                inputs.append(x)
            else:
                fixed = tf.constant(self.fixed_inputs[i])
                inputs.append(tf.repeat(fixed[None], batch, axis=0))
        return inputs

    def prepared(self, raw: tf.Tensor, preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None) -> tf.Tensor:
        """What the model receives for raw-range inputs: ``preprocess`` (if any), then its input dtype."""
        return tf.cast(preprocess(raw) if preprocess is not None else raw, self.input_dtype)

    def scores(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor]]:
        """``(logits, log_probs, activations)`` for a batch of raw-range inputs (graph-safe)."""
        if self._tap is not None:
            outs = self._tap(self.model_inputs(x), training=False)
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            pre, acts = outs[0], dict(zip(self._tap_layers, outs[1:]))
            if self._head is not None:  # the bypassed Dense, autocast as Keras would (mixed precision)
                dtype = self._head.compute_dtype
                pre = tf.matmul(tf.cast(pre, dtype), tf.cast(self._head.kernel, dtype))
                if self._head.use_bias:
                    pre = pre + tf.cast(self._head.bias, dtype)
        else:
            pre, acts = self._select_output(self.model(self.model_inputs(x), training=False)), {}
        pre = tf.cast(pre, tf.float32)
        if self.head == "softmax":
            if self.score_kind == "probabilities":
                logits = tf.math.log(tf.clip_by_value(pre, 1e-30, 1.0))
                log_probs = logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
            else:  # softmax head bypassed, or raw logits output
                logits, log_probs = pre, tf.nn.log_softmax(pre, axis=-1)
        else:  # independent sigmoids: binary (one unit) or multi-label
            z = _logit(pre) if self.score_kind == "probabilities" else pre
            if self.head == "binary":
                logits = tf.concat([-0.5 * z, 0.5 * z], axis=-1)  # softmax([-z/2, z/2]) == [1 - sigmoid(z), sigmoid(z)]
                log_probs = tf.nn.log_softmax(logits, axis=-1)
            else:
                logits, log_probs = z, tf.math.log_sigmoid(z)
        return logits, log_probs, {k: tf.cast(v, tf.float32) for k, v in acts.items()}

    def _select_output(self, out: Any) -> tf.Tensor:
        if isinstance(out, Mapping):
            return list(out.values())[self.output_index or 0]
        if isinstance(out, (list, tuple)):
            return out[self.output_index or 0]
        return out

    # ------------------------------------------------------------- numpy side
    def probabilities(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities of the real, unmodified model (softmax applied to raw logits outputs)."""
        # Eager on purpose: a compiled forward saved 2% of a MobileNetV2 ascent but its tracing (per model,
        # twin included, and per batch shape) cost the one-shot gate about 2 s. Forward only: amaxcheck never
        # takes gradients through a user's model eagerly (see gradient_probe).
        chunks = [self._probabilities(tf.convert_to_tensor(images[start:start + batch_size], self.input_dtype)).numpy()
                  for start in range(0, len(images), batch_size)]
        if not chunks:
            return np.zeros((0, self.n_classes), np.float32)
        return np.concatenate(chunks).astype(np.float32)

    def _probabilities(self, x: tf.Tensor) -> tf.Tensor:
        out = tf.cast(self._select_output(self.model(self.model_inputs(x), training=False)), tf.float32)
        if self.head == "softmax":
            return tf.nn.softmax(out, axis=-1) if self.score_kind == "logits" else out
        p = tf.sigmoid(out) if self.score_kind == "logits" else out
        return tf.concat([1.0 - p, p], axis=-1) if self.head == "binary" else p

    def with_layers(self, layer_names: Sequence[str]) -> ModelAdapter:
        """An adapter whose ``scores`` also returns the named layers' outputs."""
        names = tuple(dict.fromkeys(layer_names))
        if not names or names == self._tap_layers:
            return self
        model = self.model
        if not _is_functional(model):
            raise ModelError(
                f"objective reads layer(s) {list(names)}, but {type(model).__name__} is a subclassed model "
                "whose intermediate outputs cannot be read; use a functional or Sequential model, "
                "or build keras.Model(inputs, [your layer outputs]) yourself"
            )
        layer_outputs = [_layer_output(model, n) for n in names]
        pre = self._tap.outputs[0] if self._tap is not None else model.outputs[self.output_index or 0]
        clone = ModelAdapter(**{f.name: getattr(self, f.name) for f in fields(self)})
        clone._tap = keras.Model(model.inputs, [pre, *layer_outputs])
        clone._tap_layers = names
        clone._head = self._head
        if self._tap is None and self.score_kind in ("softmax", "sigmoid"):
            clone.score_kind = "probabilities"
        return clone

    def layer_shapes(self) -> dict[str, tuple[Any, ...]]:
        """Output shape (without batch) of each layer this adapter taps."""
        if self._tap is None:
            return {}
        return {name: tuple(t.shape[1:]) for name, t in zip(self._tap_layers, self._tap.outputs[1:])}


# ----------------------------------------------------------------------------
def _is_functional(model: Any) -> bool:
    try:
        return bool(getattr(model, "inputs", None)) and bool(getattr(model, "outputs", None))
    except (AttributeError, ValueError):
        return False


def _layer_output(model: Any, name: str) -> Any:
    try:
        return model.get_layer(name).output
    except ValueError:
        close = difflib.get_close_matches(name, [l.name for l in model.layers], n=3)
        hint = f" Did you mean {close}?" if close else f" Layers: {[l.name for l in model.layers]}"
        raise ModelError(f"the model has no layer named {name!r}.{hint}") from None


def _activation_name(fn: Any) -> str:
    return getattr(fn, "__name__", type(fn).__name__).lower()


def _tensor_name(t: Any) -> str:
    hist = getattr(t, "_keras_history", None)
    return hist.operation.name if hist is not None else str(getattr(t, "name", "?"))


def _final_activation(out_tensor: Any) -> tuple[str, Any, Any, str]:
    """Return ``(kind, pre_tensor, head_layer, description)`` for a functional output tensor."""
    hist = getattr(out_tensor, "_keras_history", None)
    if hist is None:
        return "unknown", None, None, ""
    op = hist.operation
    node = op._inbound_nodes[hist.node_index]
    inputs = list(node.input_tensors)
    if isinstance(op, keras.layers.Softmax):
        return "softmax", inputs[0], None, f'input of Softmax layer "{op.name}"'
    act = _activation_name(getattr(op, "activation", None)) if hasattr(op, "activation") else ""
    if isinstance(op, keras.layers.Activation) and act in ("softmax", "sigmoid"):
        return act, inputs[0], None, f'input of Activation("{act}") layer "{op.name}"'
    if isinstance(op, keras.layers.Dense) and act in ("softmax", "sigmoid"):
        return act, inputs[0], op, f'pre-{act} output of Dense layer "{op.name}"'
    if isinstance(op, keras.layers.Dense) and act == "linear":
        return "logits", None, None, f'output of Dense layer "{op.name}" (no final activation: already logits)'
    return "unknown", None, None, ""


def output_layer_name(model: Any, output_index: int | None) -> str | None:
    """The name of the layer with weights that produces the selected output (its head), or None when unknown.

    Walks back from ``model.outputs[output_index]`` through weightless layers
    (``Activation``, ``Softmax``, ``Reshape``...) and into nested models, so an
    auxiliary output's layer is never taken for the head of the selected one.
    """
    try:
        tensor = list(model.outputs)[output_index or 0]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    for _ in range(64):
        hist = getattr(tensor, "_keras_history", None)
        if hist is None:
            return None
        op = hist.operation
        if isinstance(op, keras.Model):
            tensor = op.outputs[hist.tensor_index] if len(op.outputs) > hist.tensor_index else None
            continue
        if op.weights:
            return str(op.name)
        inputs = list(op._inbound_nodes[hist.node_index].input_tensors)
        if len(inputs) != 1:
            return None
        tensor = inputs[0]
    return None


def _probe(model: Any, x: Any) -> Any:
    return model(x, training=False)


def _logit(p: tf.Tensor) -> tf.Tensor:
    """``log(p / (1 - p))``, the pre-sigmoid value of a probability (clipped away from 0 and 1)."""
    p = tf.clip_by_value(p, 1e-7, 1.0 - 1e-7)
    return tf.math.log(p) - tf.math.log1p(-p)




# --------------------------------------------------------------------------- adapt
@dataclass
class _InputSide:
    names: list[str]
    index: int
    shape: tuple[int, ...]
    dtype: str
    fixed: dict[int, np.ndarray]


def adapt(
    model: Any,
    *,
    input: str | int | None = None,
    output: str | int | None = None,
    fixed_inputs: Mapping[str, Any] | None = None,
    input_shape: Sequence[int] | None = None,
    head: str = "auto",
) -> ModelAdapter:
    """Inspect ``model`` and return the adapter the engine uses. Raises :class:`ModelError` on unusable models.

    ``head`` (one of :data:`HEADS`): ``"auto"`` reads it from the model -- one output
    unit is ``"binary"``, a final sigmoid over several units ``"multilabel"``,
    anything else ``"softmax"``. Say it when the model cannot show it, e.g.
    ``"multilabel"`` for a linear output trained with ``from_logits=True``.
    """
    require_model(model)
    side = _input_side(model, input, input_shape)
    side.fixed = _fixed_inputs(model, side, fixed_inputs)
    adapter = ModelAdapter(weakref.ref(model), side.shape, side.dtype, side.index, side.names, None, 0,
                           "logits", "", side.fixed)
    out_tensor, adapter.output_index, out_shape = _output_side(model, adapter, output)
    if len(out_shape) != 1:
        raise ModelError(
            f"the class-score output has shape {(None,) + out_shape}; amaxcheck needs (batch, n_classes). "
            "Pick another output with output=... (amaxcheck gate: --output NAME), or add a head that produces "
            "class scores"
        )
    _read_head(model, adapter, out_tensor, sigmoids=head == "multilabel" or out_shape[0] == 1)
    adapter.head = _resolve_head(head, int(out_shape[0]), adapter)
    adapter.n_classes = 2 if adapter.head == "binary" else int(out_shape[0])
    if adapter.head == "binary":
        adapter.logits_source += "; binary head: class 1 = the sigmoid's logit z, class 0 = -z (probabilities 1-p, p)"
    return adapter


def _resolve_head(head: str, units: int, adapter: ModelAdapter) -> str:
    """The head ``head`` names, or the one the model shows (``"auto"``); validated against its output."""
    if head not in HEADS:
        raise ModelError(f"head={head!r} is not a head amaxcheck knows; use one of {', '.join(HEADS)}")
    if units == 0:
        raise ModelError("the class-score output has no units; pick the output that holds class scores")
    if units == 1 and adapter.score_kind == "softmax":
        raise ModelError("the model ends in a softmax over a single unit, which is 1.0 for every input: it cannot tell "
                         "anything apart. A binary classifier needs Dense(1, activation='sigmoid') or two softmax units")
    if head == "auto":
        head = "binary" if units == 1 else "multilabel" if adapter.score_kind == "sigmoid" else "softmax"
    if (head == "binary") != (units == 1):
        raise ModelError(
            f"head={head!r} does not fit an output of {units} unit(s): a binary head is one sigmoid unit "
            "(Dense(1, activation='sigmoid')); several units are head='softmax' or head='multilabel'")
    if head == "softmax" and adapter.score_kind == "sigmoid":
        raise ModelError(
            "head='softmax' was asked for, but the model ends in independent sigmoids, so its class probabilities "
            "do not sum to one; use head='multilabel' (or 'auto'), or give the model a softmax output")
    if head != "softmax" and adapter.score_kind == "softmax":
        raise ModelError(
            f"head={head!r} was asked for, but the model ends in a softmax (exclusive classes); use head='softmax' "
            "(or 'auto')")
    return head


def require_model(model: Any) -> None:
    """Raise :class:`ModelError` unless ``model`` is a ``keras.Model``."""
    if not isinstance(model, keras.Model):
        raise ModelError(
            f"expected a keras.Model, got {type(model).__module__}.{type(model).__name__}; "
            "load it first (keras.saving.load_model(path)) or return the model from your fixture/function"
        )


def _input_side(model: Any, input: str | int | None, input_shape: Sequence[int] | None) -> _InputSide:
    """Which input is optimized, its shape (without batch) and dtype; validated."""
    if _is_functional(model):
        in_tensors = list(model.inputs)
        names = [_tensor_name(t) for t in in_tensors]
        if input is None and len(in_tensors) > 1:
            raise ModelError(
                f"the model has {len(in_tensors)} inputs {names}; say which to optimize with "
                "input='name' and give the others with fixed_inputs={'name': array} "
                "(amaxcheck gate/show: --input NAME --fixed-inputs FILE.npz, arrays keyed by input name)"
            )
        index = 0 if input is None else _pick_index(input, names, "input")
        shape, dtype = tuple(in_tensors[index].shape[1:]), str(in_tensors[index].dtype)
    else:
        if input_shape is None:
            raise ModelError(
                f"{type(model).__name__} is a subclassed model without declared inputs; "
                "pass input_shape=(H, W, C) (without the batch axis)"
            )
        names, index, shape, dtype = ["input"], 0, tuple(input_shape), "float32"
    if input_shape is not None:
        given = tuple(int(d) for d in input_shape)
        if len(given) != len(shape) or any(s is not None and s != g for s, g in zip(shape, given)):
            raise ModelError(f"input_shape={given} does not match the model's input shape {shape}")
        shape = given
    _check_input(shape, dtype, names[index])
    return _InputSide(names, index, shape, dtype, {})


def _check_input(shape: tuple[Any, ...], dtype: str, name: str) -> None:
    if any(d is None for d in shape):
        raise ModelError(
            f"the model's input shape {(None,) + shape} has undefined dimensions; "
            "pass input_shape=(...) with the size to synthesize, e.g. input_shape=(224, 224, 3)"
        )
    if len(shape) == 0 or len(shape) > 3:
        raise ModelError(
            f"wrong input rank: the optimized input has shape {(None,) + shape} (rank {len(shape) + 1}); "
            "amaxcheck handles vectors (batch, features), images (batch, H, W) and (batch, H, W, C). "
            "For other inputs build a sub-model whose input is one of these"
        )
    if not (dtype.startswith(("float", "bfloat"))) and len(shape) >= 2:
        raise ModelError(
            f"the model's input {name!r} has dtype {dtype}: an integer image input (e.g. uint8 pixels) has no "
            "gradient, so no image can be synthesized through it. Fix: rebuild the model on a float input of the "
            "same shape and load it as MODULE:FUNCTION, e.g. `inp = keras.Input(shape); x = inp; "
            "for layer in model.layers[1:]: x = layer(x)` then `return keras.Model(inp, x)`, and pass the pixel "
            "range with --input-range (e.g. 0,255)"
        )
    if not (dtype.startswith(("float", "bfloat"))):
        raise ModelError(
            f"the model's input {name!r} has dtype {dtype}: integer inputs (token ids, "
            "embedding lookups) have no gradient, so no input can be synthesized. Fix: optimize the first "
            "float tensor instead, e.g. keras.Model(embedding_layer.output, model.output)"
        )


def _fixed_inputs(model: Any, side: _InputSide, given: Mapping[str, Any] | None) -> dict[int, np.ndarray]:
    """Values of the inputs that are not optimized, by input index; validated against the model."""
    if len(side.names) <= 1:
        return {}
    given = dict(given or {})
    fixed: dict[int, np.ndarray] = {}
    for i, name in enumerate(side.names):
        if i == side.index:
            continue
        if name not in given:
            raise ModelError(
                f"input {name!r} is not optimized and has no value: pass fixed_inputs={{{name!r}: array}} "
                f"with one example of shape {tuple(model.inputs[i].shape[1:])} (amaxcheck gate/show: "
                f"--fixed-inputs FILE.npz holding an array named {name!r})"
            )
        arr = np.asarray(given[name], dtype=str(model.inputs[i].dtype))
        want = tuple(model.inputs[i].shape[1:])
        if arr.shape == (1, *want):
            arr = arr[0]
        if len(arr.shape) != len(want) or any(w is not None and w != a for w, a in zip(want, arr.shape)):
            raise ModelError(f"fixed_inputs[{name!r}] (--fixed-inputs array {name!r}) has shape {arr.shape}; the "
                             f"model expects one example of shape {want} (or {(1, *want)}); give one example")
        fixed[i] = arr
    unknown = set(given) - set(side.names)
    if unknown:
        raise ModelError(f"fixed_inputs (--fixed-inputs) names unknown inputs {sorted(unknown)}; model inputs are "
                         f"{side.names}: key each array by the name of an input that is not optimized")
    return fixed


def _output_side(model: Any, adapter: ModelAdapter, output: str | int | None) -> tuple[Any, int | None, tuple]:
    """``(output tensor or None, output index, output shape without batch)`` of the class-score output."""
    if _is_functional(model):
        outs = list(model.outputs)
        out_names = [_tensor_name(t) for t in outs]
        index = None
        if len(outs) > 1:
            if output is None:
                raise ModelError(
                    f"the model has {len(outs)} outputs {out_names}; pick the class-score output with "
                    "output='name' or output=index (amaxcheck gate: --output NAME; show: --model-output NAME)"
                )
            index = _pick_index(output, out_names, "output")
        tensor = outs[index or 0]
        return tensor, index, tuple(tensor.shape[1:])
    probe_out = _probe(model, adapter.model_inputs(tf.zeros((1, *adapter.input_shape), adapter.input_dtype)))
    index = None
    if isinstance(probe_out, (list, tuple, Mapping)):
        names = list(probe_out.keys()) if isinstance(probe_out, Mapping) else list(range(len(probe_out)))
        if output is None:
            raise ModelError(
                f"the model returns {len(names)} outputs {names}; pick the class-score output with output=... "
                "(amaxcheck gate: --output NAME|INDEX; show: --model-output NAME|INDEX)"
            )
        index = names.index(output) if output in names else _pick_index(output, [str(n) for n in names], "output")
    adapter.output_index = index
    return None, index, tuple(adapter._select_output(probe_out).shape[1:])


def _read_head(model: Any, adapter: ModelAdapter, out_tensor: Any, *, sigmoids: bool) -> None:
    """Decide where logits are read: the pre-activation of a softmax/sigmoid head, the output, or log-probabilities.

    ``sigmoids``: the outputs are independent (a binary or multi-label head), so an
    unrecognized output with every value in [0, 1] is read as probabilities.
    """
    kind, pre, head, description = _final_activation(out_tensor) if out_tensor is not None else ("unknown",) * 4
    if kind in ("softmax", "sigmoid"):
        adapter._tap = keras.Model(model.inputs, [pre])
        adapter._head = head
        adapter.score_kind = kind
        adapter.logits_source = description
        return
    if kind == "logits":
        adapter.logits_source = description
        return
    # Decide from the numbers: probabilities sum to one and are non-negative.
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (4, *adapter.input_shape)).astype(adapter.input_dtype))
    out = np.asarray(adapter._select_output(_probe(model, adapter.model_inputs(x))), np.float64)
    if sigmoids and np.all((out >= 0) & (out <= 1)):
        adapter.score_kind = "probabilities"
        adapter.logits_source = "logit of the model's independent probabilities (no final sigmoid found to bypass)"
    elif np.all(out >= 0) and np.allclose(out.sum(-1), 1.0, atol=1e-3):
        adapter.score_kind = "probabilities"
        adapter.logits_source = (
            "log of the model's probabilities (no final softmax layer found that could be bypassed); "
            "class_logit() then equals class_log_prob() up to a per-sample constant"
        )
    else:
        adapter.logits_source = "model output, taken as logits (it is not a probability distribution)"
        if np.all((out >= 0) & (out <= 1)):
            adapter.logits_source += ("; every value lies in [0, 1]: if these are independent sigmoid probabilities, "
                                      "pass head='multilabel' (gate: --head multilabel)")


def _pick_index(key: str | int, names: Sequence[str], what: str) -> int:
    if isinstance(key, (int, np.integer)):
        if not 0 <= int(key) < len(names):
            raise ModelError(f"{what}={key} is out of range: the model has {len(names)} {what}s {list(names)}")
        return int(key)
    if key not in names:
        close = difflib.get_close_matches(str(key), list(names), n=3)
        raise ModelError(
            f"the model has no {what} named {key!r}; its {what}s are {list(names)}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
        )
    return list(names).index(key)


# ----------------------------------------------------------------------------
def fingerprint(model: Any) -> str:
    """SHA-256 over the model's class, input shape and every weight: equal weights, equal fingerprint."""
    h = hashlib.sha256()
    h.update(type(model).__name__.encode())
    for w in model.weights:
        arr = np.asarray(w)
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()
