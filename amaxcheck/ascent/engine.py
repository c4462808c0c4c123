"""The one compiled ascent engine. Everything else in amaxcheck calls :func:`synthesize`.

One batch holds every (class, restart) sample, split by ``max_batch``. Each
chunk of ``check_every`` steps runs inside a single ``tf.function`` (an
in-graph loop: forward, backward, Adam, per-sample masking), so Python is
entered once per chunk, not once per step. Between chunks the clean
(untransformed) inputs are scored once to keep each sample's best iterate and
to stop samples early. With ``devices`` (two or more), each chunk runs as
``tf.distribute.MirroredStrategy`` replicas, one contiguous slice of the batch
each (:meth:`_Engine._replicated_chunk`); the loop around it is unchanged.

Engines are cached per live model in :data:`amaxcheck._cache.ENGINES`, keyed
by :meth:`AscentConfig.graph_key` (the settings that shape the graph: the
objective value, parameterization, transforms, range, preprocess, input and
output). Steps, restarts, seed, learning rate, early stop and the objective's
numbers (``tv_weight``, a composed objective's weights, fed as one tensor) are
inputs of the compiled loop, so changing them never retraces.
"""
from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from .. import _cache
from .. import defaults as D
from ..errors import AscentDivergedError, ClassSelectionError, ConfigError, ModelError
from ..timings import Timings
from .config import AscentConfig
from .devices import resolve_devices
from .gradient_probe import check_gradient_path
from .input_range import check_model_range
from .layer_mode import CLASSES, LAYER, class_mode_objective, layer_config, resolve_units, unit_activations, unit_count
from .model_adapter import ModelAdapter, adapt, fingerprint, require_model
from .objectives import AscentContext, Objective
from .parameterization import Parameterization, image_layout
from .progress import Progress
from .result import SynthesisResult
from .transforms import N_RANDOM, Transforms, apply_transforms, resolve_transforms

#: default weight of total variation in the default objective (unit image, per pixel pair)
DEFAULT_TV_WEIGHT = D.TV_WEIGHT
_ADAM_B1, _ADAM_B2, _ADAM_EPS = 0.9, 0.999, 1e-8
#: starting points probed for a gradient path, and as many random inputs across the range
_PROBE_STARTS = 4
#: a random stream of its own, distinct from every (seed, class, restart) sample stream
_PROBE_STREAM = 2**31 - 1


# --------------------------------------------------------------------------- helpers
def resolve_classes(classes: Any, n_classes: int, labels: Sequence[str] | None) -> list[int]:
    """Turn ``"all"``, an int, a label, or a list of them into class indices (validated)."""
    if isinstance(classes, str) and classes == "all":
        return list(range(n_classes))
    items = [classes] if isinstance(classes, (int, np.integer, str)) else list(classes)
    if not items:
        raise ClassSelectionError("classes is empty; pass 'all', an index, a label, or a list of them")
    return list(dict.fromkeys(_class_index(item, n_classes, labels) for item in items))


def _class_index(item: Any, n_classes: int, labels: Sequence[str] | None) -> int:
    if isinstance(item, str):
        if labels is None:
            raise ClassSelectionError(f"class {item!r} is a name but no labels were given; pass labels=[...] or an index")
        if item not in labels:
            import difflib

            close = difflib.get_close_matches(item, list(labels), n=3)
            raise ClassSelectionError(
                f"unknown label {item!r}" + (f"; did you mean {close}?" if close else f"; labels are {list(labels)}")
            )
        return list(labels).index(item)
    if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
        raise ClassSelectionError(f"class {item!r} is neither an index nor a label")
    if not 0 <= int(item) < n_classes:
        raise ClassSelectionError(
            f"class index {int(item)} is out of range: the model has {n_classes} classes (0..{n_classes - 1})"
        )
    return int(item)


def _sample_rng(seed: int, cls: int, restart: int) -> np.random.Generator:
    """One generator per sample: its start and transforms do not depend on batching or other classes."""
    return np.random.default_rng([int(seed), int(cls), int(restart)])


def _expand(mask: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def check_finite_weights(model: Any) -> None:
    """Raise :class:`ModelError` naming every variable of ``model`` that holds NaN or Inf (once per engine build).

    A model with a non-finite weight gives NaN scores for every input, so the
    ascent would only report a divergence at step 0 and blame the settings.
    """
    bad = []
    for variable in model.weights:
        values = np.asarray(variable)
        if "float" not in values.dtype.name:  # float16/32/64 and bfloat16; integer counters cannot be NaN
            continue
        values = values.astype(np.float64, copy=False)
        finite = np.isfinite(values)
        if not finite.all():
            nan = int(np.isnan(values).sum())
            count = values.size - int(finite.sum())
            name = getattr(variable, "path", None) or variable.name
            bad.append(f"{name} ({count} of {values.size} values non-finite: {nan} NaN, {count - nan} Inf)")
    if bad:
        shown = "; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise ModelError(
            f"the model's weights contain NaN/Inf in {len(bad)} variable(s) (layer/variable): {shown}. "
            "No input can be synthesized or checked through them. Fix: reload the model from an intact file, or "
            "retrain it (the training diverged: lower the learning rate, clip gradients, check the data for NaN)"
        )


def adam_step(params: tf.Tensor, m: tf.Tensor, v: tf.Tensor, t: tf.Tensor, g: tf.Tensor, lr: tf.Tensor,
              update: tf.Tensor, finite: tf.Tensor, b1: float = _ADAM_B1, b2: float = _ADAM_B2
              ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One Adam step (descent on ``g``) for the samples where ``update``; non-finite gradients count as 0.

    ``t`` is the step number after this step (1 for the first). Samples that are
    not updated keep their parameters and moments, so a stopped sample stays put.
    Every loop amaxcheck compiles (class and layer ascent, trigger reversal) steps through here.
    """
    g = tf.where(_expand(finite, g), g, tf.zeros_like(g))
    m_new = b1 * m + (1.0 - b1) * g
    v_new = b2 * v + (1.0 - b2) * tf.square(g)
    m_hat = m_new / (1.0 - tf.pow(b1, t))
    v_hat = v_new / (1.0 - tf.pow(b2, t))
    step = lr * m_hat / (tf.sqrt(v_hat) + _ADAM_EPS)
    mask = _expand(update, params)
    return tf.where(mask, params - step, params), tf.where(mask, m_new, m), tf.where(mask, v_new, v)


# --------------------------------------------------------------------------- engine
class _Engine:
    """Compiled functions for one model and one :meth:`AscentConfig.graph_key`. Holds the model only weakly."""

    def __init__(self, adapter: ModelAdapter, config: AscentConfig, mode: str = CLASSES):
        check_finite_weights(adapter.model)
        self.mode = mode  # LAYER: each sample's int input is its unit (ctx.units), not a class
        objective = config.effective_objective
        self.adapter = adapter.with_layers(objective.layers)
        objective.validate(self.adapter.layer_shapes())
        self.objective: Objective = objective
        # the objective's numbers are an input of the compiled loop: configs that differ only in them share a trace
        self.slots = {id(node): i for i, node in enumerate(objective.weighted_nodes())}
        self.shape = adapter.input_shape
        self.param: Parameterization = config.parameterization  # type: ignore[assignment]
        self.param.validate(self.shape)
        self.transforms = resolve_transforms(config.transforms, self.shape)
        if config.jit_compile and self.transforms.warps and image_layout(self.shape) is not None:
            raise ConfigError(
                f"jit_compile=True cannot compile the random warp of {self.transforms} (XLA has no kernel for "
                "ImageProjectiveTransformV3); pass transforms=None or Transforms(blur=...) with it, or leave "
                "jit_compile off (measured 2.3x slower than the default on CPU for the digits CNN: "
                "benchmarks/bench_ascent.py --jit)"
            )
        self.lo, self.hi = config.input_range
        self.preprocess = config.preprocess
        self.jit_compile = config.jit_compile
        #: the devices the chunk runs on (``None``: TensorFlow's placement); two or more are MirroredStrategy replicas
        self.devices = resolve_devices(config.devices)
        self._compiled_chunk: Any = None
        self.gradient_path_checked = False
        self.traced = False  # the compiled chunk has run once (its first call traced it)
        #: (timings, seconds, steps, batch) of a one-chunk first call counted whole as trace (see _TraceClock)
        self.pending_trace: tuple[weakref.ref[Timings], float, int, int] | None = None

    def run_chunk(self, params, m, v, t, noise, active, targets, lr, first, weights):
        """:meth:`_run_chunk`, compiled once for every batch size and chunk length (one trace per engine).

        The signature leaves the batch and step axes open, so the last, shorter
        chunk, another ``max_batch`` split or another run reuses the same graph.
        """
        args = (params, m, v, t, noise, active, targets, lr, first, weights)
        if self._compiled_chunk is None:
            self._compiled_chunk = self._compile_chunk(args, autograph=False)
            try:
                return self._compiled_chunk(*args)
            except tf.errors.OperatorNotAllowedInGraphError:
                # the model or the objective branches on a tensor in Python: it needs autograph's conversion
                self._compiled_chunk = self._compile_chunk(args, autograph=True)
        return self._compiled_chunk(*args)

    def _compile_chunk(self, args: tuple[Any, ...], autograph: bool) -> Any:
        """The chunk as one ``tf.function`` with open batch and step axes.

        Without ``autograph`` by default: the loop is an explicit ``tf.while_loop``,
        and autograph's source-to-source conversion of every function the chunk
        calls (the model's layers included) was most of the trace time (measured:
        about two thirds of the first call on the digits CNN). Models whose Python
        code branches on tensor values get autograph (see :meth:`run_chunk`).
        """
        params, m, v, _, noise, _, targets, _, _, _ = args

        def batched(x: tf.Tensor) -> tf.TensorSpec:
            return tf.TensorSpec([None, *x.shape[1:]], x.dtype)

        scalar = tf.TensorSpec([], tf.float32)
        specs = (batched(params), batched(m), batched(v), scalar, tf.TensorSpec([None, None, noise.shape[-1]],
                 tf.float32), tf.TensorSpec([None], tf.bool), batched(targets), scalar, tf.TensorSpec([], tf.bool),
                 tf.TensorSpec([len(self.slots)], tf.float32))
        if self.devices is not None and len(self.devices) > 1:
            return tf.function(self._replicated_chunk(), input_signature=specs, autograph=autograph)
        return tf.function(self._placed_chunk, input_signature=specs, jit_compile=self.jit_compile,
                           autograph=autograph)

    def weights_of(self, config: AscentConfig) -> tf.Tensor:
        """``config``'s objective numbers in the order of this engine's (same :meth:`Objective.skeleton`)."""
        return tf.constant(np.asarray(config.effective_objective.constants(), np.float32).reshape(len(self.slots)))

    def _placed_chunk(self, *args: Any) -> Any:
        """:meth:`_run_chunk` under TensorFlow's placement, or on the one device of ``devices``."""
        if self.devices is None:
            return self._run_chunk(*args)
        with tf.device(self.devices[0]):
            return self._run_chunk(*args)

    def _replicated_chunk(self) -> Callable[..., Any]:
        """:meth:`_run_chunk` with the batch split across ``devices`` (one ``MirroredStrategy`` replica per device).

        Every sample's steps depend on that sample alone (the weights are frozen;
        nothing is reduced across the batch), so each replica runs the unchanged
        chunk on a contiguous slice and the slices are concatenated back in
        order. The batch is padded to a multiple of the replica count by repeating
        its last sample (dropped afterwards), so any batch size works, one sample
        included. The model's variables live outside the strategy's scope and are
        only read, which replicas may do on any device.
        """
        strategy = tf.distribute.MirroredStrategy(list(self.devices or ()))
        replicas = strategy.num_replicas_in_sync

        def replicated(params, m, v, t, noise, active, targets, lr, first, weights):
            n = tf.shape(params)[0]
            per = (n + replicas - 1) // replicas
            rows = tf.minimum(tf.range(per * replicas), n - 1)
            padded = tuple(tf.gather(x, rows) for x in (params, m, v, noise, active, targets))
            sliced = strategy.experimental_distribute_values_from_function(
                lambda ctx: tuple(x[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]
                                  for x in padded))

            def one(part):
                p, m_, v_, noise_, active_, targets_ = part
                return self._run_chunk(p, m_, v_, t, noise_, active_, targets_, lr, first, weights)

            out = strategy.run(one, args=(sliced,))
            local = [strategy.experimental_local_results(value) for value in out]
            # output 3 is the step counter ``t``, a scalar every replica advanced alike; the rest are per sample
            return tuple(parts[0] if i == 3 else tf.concat(parts, 0)[:n] for i, parts in enumerate(local))

        return replicated

    def check_gradient_path(self, starts: np.ndarray, seed: int) -> None:
        """Fail fast, naming the culprit step, if the scores have no gradient w.r.t. the input.

        Probes the given starting parameters and ``_PROBE_STARTS`` uniform random
        inputs across the range: one point where every ReLU is off is not a missing path.
        """
        start_units = self.to_unit(starts)
        random_units = np.random.default_rng([int(seed), _PROBE_STREAM]).uniform(
            0.0, 1.0, (_PROBE_STARTS, *start_units.shape[1:])).astype(np.float32)
        probes = self.to_raw(tf.constant(np.concatenate([start_units, random_units]))).numpy()
        check_gradient_path(self.adapter, probes, self.preprocess)
        self.gradient_path_checked = True

    def to_unit(self, params: np.ndarray, batch: int = D.MAX_BATCH) -> np.ndarray:
        """Parameters to unit-range inputs, in batches (NumPy in, NumPy out)."""
        chunks = [self.param.to_unit(tf.constant(params[i:i + batch]), self.shape).numpy()
                  for i in range(0, len(params), batch)]
        return np.concatenate(chunks) if chunks else np.zeros((0, *self.shape), np.float32)

    def to_raw(self, unit: tf.Tensor) -> tf.Tensor:
        return self.lo + (self.hi - self.lo) * unit

    def _objective(self, unit: tf.Tensor, seen_unit: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor):
        raw = self.to_raw(seen_unit)
        logits, log_probs, acts = self.adapter.scores(self.adapter.prepared(raw, self.preprocess))
        ctx = AscentContext(logits=logits, log_probs=log_probs, targets=targets, unit_image=unit,
                            model_input=raw, activations=acts, units=targets if self.mode == LAYER else None,
                            weights=weights, slots=self.slots)
        return tf.cast(self.objective(ctx), tf.float32), log_probs

    def _evaluate(self, params, targets, weights):
        unit = self.param.to_unit(params, self.shape)
        obj, log_probs = self._objective(unit, unit, targets, weights)
        if self.mode == LAYER:  # no target class: nothing to stop at
            return obj, tf.zeros_like(obj)
        p = tf.exp(tf.gather(log_probs, targets, axis=1, batch_dims=1))
        return obj, p

    def _scores_move(self, params: tf.Tensor) -> tf.Tensor:
        """Per sample: does any class score (weighted by index: a binary head's logits sum to 0) have an input gradient?

        Only the model's scores: a regularizer's gradient would hide a cut path.
        """
        with tf.GradientTape() as tape:
            tape.watch(params)
            raw = self.to_raw(self.param.to_unit(params, self.shape))
            logits, _, _ = self.adapter.scores(self.adapter.prepared(raw, self.preprocess))
            total = tf.reduce_sum(logits * tf.range(1, self.adapter.n_classes + 1, dtype=tf.float32))
        g = tape.gradient(total, params)
        if g is None:  # no differentiable path at all: decided while tracing
            return tf.zeros([tf.shape(params)[0]], tf.bool)
        flat = tf.reshape(g, [tf.shape(g)[0], -1])
        return tf.reduce_any(tf.not_equal(flat, 0.0) & tf.math.is_finite(flat), axis=1)

    def _run_chunk(self, params, m, v, t, noise, active, targets, lr, first, weights):
        """``k = noise.shape[1]`` Adam steps, then the clean objective (and target probability) at the end.

        With ``first``, also the clean objective of the starting ``params`` (the
        first candidate for the best iterate) and ``moved``: which starts have a
        nonzero input gradient of the class scores (the fast gradient-path check).
        """
        n = tf.shape(noise)[1]
        history = tf.TensorArray(tf.float32, size=n)
        nonfinite = tf.zeros_like(active)
        moved = (tf.cond(first, lambda: self._scores_move(params), lambda: tf.zeros_like(active))
                 if self.mode == CLASSES else tf.zeros_like(active))
        start_score = tf.cond(first, lambda: self._evaluate(params, targets, weights)[0],
                              lambda: tf.fill(tf.shape(active), np.float32(np.nan)))

        def step(i, params, m, v, t, active, nonfinite, history):
            with tf.GradientTape() as tape:
                tape.watch(params)
                unit = self.param.to_unit(params, self.shape)
                seen = apply_transforms(unit, noise[:, i], self.transforms, self.shape)
                obj, _ = self._objective(unit, seen, targets, weights)
                loss = -tf.reduce_sum(obj * tf.cast(active, tf.float32))
            g = tape.gradient(loss, params)
            flat = tf.reshape(g, [tf.shape(g)[0], -1])
            finite = tf.reduce_all(tf.math.is_finite(flat), axis=1) & tf.math.is_finite(obj)
            update = active & finite
            nonfinite = nonfinite | (active & ~finite)
            t = t + 1.0
            params, m, v = adam_step(params, m, v, t, g, lr, update, finite)
            history = history.write(i, tf.where(active, obj, tf.fill(tf.shape(obj), np.float32(np.nan))))
            return i + 1, params, m, v, t, update, nonfinite, history

        _, params, m, v, t, active, nonfinite, history = tf.while_loop(
            lambda i, *_: i < n, step, (tf.constant(0), params, m, v, t, active, nonfinite, history))
        score, p = self._evaluate(params, targets, weights)
        return params, m, v, t, active, nonfinite, tf.transpose(history.stack()), start_score, score, p, moved


def adapter_for(model: Any, config: AscentConfig) -> ModelAdapter:
    """The (cached) adapter that reads ``model``'s class scores as ``config`` says (input, output, fixed inputs)."""
    require_model(model)
    return _cache.ENGINES.get_or_build(model, ("adapter", config.adapter_key), lambda: adapt(
        model, input=config.input, output=config.output, fixed_inputs=config.fixed_input_arrays or None,
        input_shape=config.input_shape, head=config.head))


def engine_for(model: Any, config: AscentConfig, mode: str = CLASSES) -> _Engine:
    """The (cached) compiled engine for ``model``, the graph-shaping part of ``config`` and the mode."""
    require_model(model)
    key = ("engine", config.graph_key()) if mode == CLASSES else ("engine", config.graph_key(), mode)
    return _cache.ENGINES.get_or_build(model, key, lambda: _Engine(adapter_for(model, config), config, mode))


# --------------------------------------------------------------------------- one run
#: the most objective values :attr:`SynthesisResult.history` keeps per sample; longer runs record every
#: ``history_stride``-th step (``settings["history_stride"]``), so memory does not grow with ``steps``
MAX_HISTORY = 4096


@dataclass
class _Plan:
    """Every sample of one run: targets, starting parameters and each sample's random stream.

    The per-step random numbers are drawn chunk by chunk (:meth:`noise`) from
    each sample's own generator, after its start, so memory does not grow with
    ``steps`` and the numbers are exactly those one ``(steps, N_RANDOM)`` draw
    would give.
    """

    classes: np.ndarray  # (n,) int32
    restarts: np.ndarray  # (n,) int32
    params0: np.ndarray  # (n, *param_shape)
    rngs: list[np.random.Generator]  # (n,) each sample's stream, positioned after its start

    def noise_of(self, samples: np.ndarray, k: int) -> np.ndarray:
        """The next ``k`` steps' random numbers of the given samples: float32 ``(len(samples), k, N_RANDOM)``."""
        return np.stack([self.rngs[i].uniform(-1.0, 1.0, (k, N_RANDOM)).astype(np.float32) for i in samples])


def _plan(engine: _Engine, targets: list[int], config: AscentConfig) -> _Plan:
    samples = [(c, r) for c in targets for r in range(config.restarts)]
    rngs = [_sample_rng(config.seed, c, r) for c, r in samples]
    params0 = np.stack([engine.param.init(g, engine.shape) for g in rngs])
    return _Plan(np.array([c for c, _ in samples], np.int32), np.array([r for _, r in samples], np.int32),
                 params0, rngs)


def history_stride(steps: int) -> int:
    """Steps per recorded history point: 1 up to :data:`MAX_HISTORY` steps, then the least keeping it under."""
    return max(1, -(-int(steps) // MAX_HISTORY))


@dataclass
class _Trace:
    """What the ascent produced: the best parameters of each sample and its (strided) history."""

    best: np.ndarray
    history: np.ndarray  # (n, ceil(steps / stride)): the objective at steps 0, stride, 2 * stride, ...
    steps_run: np.ndarray
    diverged_at: np.ndarray
    stride: int = 1

    @classmethod
    def empty(cls, params0: np.ndarray, steps: int) -> _Trace:
        n, stride = len(params0), history_stride(steps)
        return cls(np.empty_like(params0), np.full((n, -(-steps // stride)), np.nan, np.float32),
                   np.zeros(n, np.int32), np.full(n, -1, np.int32), stride)

    def record(self, sl: slice, done: int, hist: np.ndarray) -> None:
        """Keep the chunk of steps ``done .. done + k`` whose step index is a multiple of the stride."""
        first = -(-done // self.stride) * self.stride  # first recorded step in the chunk
        picked = hist[:, first - done::self.stride]
        self.history[sl, first // self.stride:first // self.stride + picked.shape[1]] = picked


class _TraceClock:
    """Times the engine's first compiled call, and counts what it cost beyond a regular chunk as ``trace``.

    The first call of a compiled chunk traces the graph, optimizes it and runs
    one chunk; the next call of the same length runs only the chunk. Their
    difference goes to the ``trace`` stage of ``timings``. When the ascent is
    one chunk (``steps <= check_every``) all of the first call goes to ``trace``
    for now, and the engine's next call of that length (the controls', in the
    gate) gives its regular part back to ``synthesis`` (its time scaled to the
    first call's batch size). Nothing happens
    without ``timings`` or when the engine was traced by an earlier run.
    """

    def __init__(self, timings: Timings | None):
        self.timings = timings
        self.first: tuple[float, int, int] | None = None  # (seconds, steps, batch) of the engine's first call

    def call(self, engine: _Engine, k: int, args: tuple[Any, ...]) -> Any:
        pending = engine.pending_trace
        if self.timings is None and pending is None:
            return engine.run_chunk(*args)
        first = not engine.traced
        started = time.perf_counter()
        out = engine.run_chunk(*args)
        np.asarray(out[6])  # the chunk's history: waits for the chunk to finish
        seconds = time.perf_counter() - started
        if pending is not None and pending[2] == k:  # scaled by batch size: a chunk costs about that per sample
            engine.pending_trace = None
            owner = pending[0]()
            if owner is not None:
                owner.move("trace", "synthesis", min(pending[1], seconds * pending[3] / max(1, int(args[0].shape[0]))))
        if self.timings is None:
            return out
        if first:
            self.first = (seconds, k, int(args[0].shape[0]))
        elif self.first is not None and self.first[1] == k:
            self.timings.carve("trace", self.first[0] - seconds)
            self.first = None
        return out

    def close(self, engine: _Engine) -> None:
        if self.timings is not None and self.first is not None:
            self.timings.carve("trace", self.first[0])
            engine.pending_trace = (weakref.ref(self.timings), *self.first)
            self.first = None


def _ascend(engine: _Engine, plan: _Plan, config: AscentConfig, progress: bool | None,
            timings: Timings | None = None) -> _Trace:
    n, steps, batch = len(plan.classes), config.steps, config.max_batch
    trace = _Trace.empty(plan.params0, steps)
    bar = Progress(total=steps * ((n + batch - 1) // batch), enabled=progress)
    clock = _TraceClock(timings)
    try:
        for b0 in range(0, n, batch):
            _ascend_batch(engine, plan, config, slice(b0, min(n, b0 + batch)), trace, bar, clock)
    finally:
        bar.close()
        clock.close(engine)
    return trace


def _ascend_batch(engine: _Engine, plan: _Plan, config: AscentConfig, sl: slice, trace: _Trace, bar: Progress,
                  clock: _TraceClock | None = None) -> None:
    """Adam on one batch of samples, ``check_every`` steps per compiled call, keeping each sample's best iterate.

    Samples that stop (``stop_at``, ``stop_plateau``, or a non-finite step) leave
    the batch: the next chunk runs on the live samples only (the compiled chunk
    has an open batch axis, so no retrace), so early stopping saves the work it
    promises. Each sample's random numbers come from its own stream, so a
    sample's steps do not depend on which others are still running.
    """
    steps, lr = config.steps, tf.constant(config.learning_rate, tf.float32)
    weights = engine.weights_of(config)
    live = np.arange(sl.start, sl.stop)  # the samples in the batch (absolute indices), in order
    tgt = tf.constant(plan.classes[sl])
    params = tf.constant(plan.params0[sl])
    m, v, t = tf.zeros_like(params), tf.zeros_like(params), tf.constant(0.0)
    best_params = plan.params0[sl].copy()
    best_score: np.ndarray | None = None
    plateau: _Plateau | None = None
    done = 0
    while done < steps:
        k = min(config.check_every, steps - done)
        noise = tf.constant(plan.noise_of(live, k))
        running = tf.ones([len(live)], tf.bool)
        args = (params, m, v, t, noise, running, tgt, lr, tf.constant(done == 0), weights)
        outputs = (clock or _TraceClock(None)).call(engine, k, args)
        engine.traced = True
        params, m, v, t, finite, nonfinite, hist, start_score, score, p, moved = outputs
        pos = live - sl.start  # rows of the batch's bookkeeping
        if best_score is None:
            start = start_score.numpy()
            best_score = np.where(np.isfinite(start), start, -np.inf)
            plateau = _Plateau(best_score, int(config.stop_plateau or 0))
            if not engine.gradient_path_checked and engine.mode == CLASSES:
                _check_gradient_path(engine, plan, config, moved.numpy())
        full = np.full((sl.stop - sl.start, k), np.nan, np.float32)
        full[pos] = hist.numpy()
        trace.record(sl, done, full)
        trace.steps_run[live] += k
        bad = nonfinite.numpy()
        if bad.any():
            rows = live[bad & (trace.diverged_at[live] < 0)]
            trace.diverged_at[rows] = done + np.argmax(np.isnan(full[rows - sl.start]), axis=1)
        score_now = score.numpy()
        better = np.isfinite(score_now) & (score_now > best_score[pos])
        if better.any():
            best_params[pos[better]] = params.numpy()[better]
            best_score[pos[better]] = score_now[better]
        keep = finite.numpy()
        if config.stop_plateau is not None and plateau is not None:
            keep &= ~plateau.stalled(pos, score_now, done + k)
        if config.stop_at is not None:
            keep &= p.numpy() < float(config.stop_at)
        done += k
        bar.advance(k)
        if not keep.any():
            bar.advance(steps - done)
            break
        if not keep.all():  # stopped samples leave the batch
            live = live[keep]
            rows_kept = tf.constant(np.flatnonzero(keep))
            params, m, v, tgt = (tf.gather(x, rows_kept) for x in (params, m, v, tgt))
    trace.best[sl] = best_params


class _Plateau:
    """``stop_plateau``: which samples' clean objective has not risen by ``PLATEAU_TOL`` for ``window`` steps."""

    def __init__(self, start: np.ndarray, window: int):
        self.reference = np.asarray(start, np.float64).copy()  # the objective at the sample's last real gain
        self.gained_at = np.zeros(len(self.reference), np.int64)
        self.window = window

    def stalled(self, rows: np.ndarray, score: np.ndarray, step: int) -> np.ndarray:
        """Of the batch rows ``rows`` (whose clean objective is now ``score``): which have stalled."""
        gained = np.isfinite(score) & (score > self.reference[rows] + D.PLATEAU_TOL)
        self.reference[rows] = np.where(gained, score, self.reference[rows])
        self.gained_at[rows] = np.where(gained, step, self.gained_at[rows])
        return step - self.gained_at[rows] >= self.window


def _check_gradient_path(engine: _Engine, plan: _Plan, config: AscentConfig, moved: np.ndarray) -> None:
    """After the first chunk: an input gradient moved some sample, or the full probe (which names the culprit) runs."""
    if not moved.any():  # ReLUs off at every start, or no path at all: probe random inputs across the range too
        engine.check_gradient_path(plan.params0[:_PROBE_STARTS], config.seed)
    engine.gradient_path_checked = True


def _result(model: Any, engine: _Engine, plan: _Plan, trace: _Trace, config: AscentConfig, targets: list[int],
            labels: list[str] | None, started: float, layer: str | None = None) -> SynthesisResult:
    lo, hi = config.input_range
    images = np.clip((lo + (hi - lo) * engine.to_unit(trace.best)).astype(np.float32), lo, hi)
    initial = (lo + (hi - lo) * engine.to_unit(plan.params0)).astype(np.float32)
    adapter = engine.adapter
    chosen = {"classes": targets} if layer is None else {"mode": LAYER, "layer": layer, "units": targets}
    settings = {**chosen, **config.as_dict(), "transforms": engine.transforms.as_dict(),
                "input": adapter.input_names[adapter.input_index], "history_stride": trace.stride,
                "head": adapter.head}
    by_unit: dict[str, Any] = {} if layer is None else {
        "mode": LAYER, "layer": layer, "units": plan.classes,
        "activations": unit_activations(adapter, layer, images, plan.classes, config.preprocess)}
    return SynthesisResult(
        images=images, classes=plan.classes if layer is None else np.full(len(plan.classes), -1, np.int32),
        restarts=plan.restarts, probabilities=adapter.probabilities(images), **by_unit,
        history=trace.history, steps_run=trace.steps_run, settings=settings, input_range=(lo, hi),
        n_classes=adapter.n_classes, labels=labels, logits_source=adapter.logits_source,
        model_name=getattr(model, "name", type(model).__name__), model_fingerprint=fingerprint(model),
        wall_time=time.perf_counter() - started, diverged=trace.diverged_at >= 0, initial_images=initial,
        config=config, head=adapter.head,
    ).bind(model)


def _raise_if_diverged(result: SynthesisResult, trace: _Trace, plan: _Plan) -> None:
    if not result.diverged.any():
        return
    where = [(int(plan.classes[i]), int(result.restarts[i]), int(trace.diverged_at[i]))
             for i in np.flatnonzero(result.diverged)]
    what = "class" if result.mode == CLASSES else "unit"
    shown = ", ".join(f"{what} {c} restart {r} at step {s}" for c, r, s in where[:10])
    raise AscentDivergedError(
        f"the ascent produced NaN/Inf for {len(where)} sample(s): {shown}{' ...' if len(where) > 10 else ''}. "
        "Those samples stopped at their last finite iterate (see .result). Likely causes: a layer that "
        "overflows for inputs at the range bounds (check input_range), log of zero in a custom objective, "
        "or a learning_rate that is too high.",
        where, result,
    )


# --------------------------------------------------------------------------- public
def synthesize(
    model: Any,
    classes: Any = None,
    *,
    layer: str | None = None,
    units: Any = None,
    config: AscentConfig | None = None,
    restarts: int = D.RESTARTS,
    steps: int = D.STEPS,
    seed: int = D.SEED,
    input_range: tuple[float, float] = D.INPUT_RANGE,
    objective: Objective | None = None,
    tv_weight: float = D.TV_WEIGHT,
    parameterization: Any = D.PARAMETERIZATION,
    transforms: Transforms | str | None = D.TRANSFORMS,
    learning_rate: float = D.LEARNING_RATE,
    stop_at: float | None = None,
    stop_plateau: int | None = D.STOP_PLATEAU,
    check_every: int = D.CHECK_EVERY,
    max_batch: int = D.MAX_BATCH,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    labels: Sequence[str] | None = None,
    input: str | int | None = None,
    output: str | int | None = None,
    fixed_inputs: Mapping[str, Any] | None = None,
    input_shape: Sequence[int] | None = None,
    progress: bool | None = None,
    jit_compile: bool = False,
    timings: Timings | None = None,
    devices: str | Sequence[str] | None = D.DEVICES,
) -> SynthesisResult:
    """Synthesize the input each class (or each unit of a layer) wants most (activation maximization).

    Parameters
    ----------
    model : keras.Model
        A trained classifier. It is never modified; weights stay frozen.
    classes : "all" | int | str | list
        Target classes by index or, with ``labels``, by name (default ``"all"``).
        An objective that does not read the target class is refused for more than one class.
    layer : str, optional
        Layer mode: visualize the units (channels) of this layer instead of classes --
        one sample per unit x restart, all in the same compiled batch, maximizing
        ``channel(layer) - tv_weight * total_variation()`` (or an ``objective`` with
        ``channel(layer)`` and no index). The layer must have spatial output (Conv2D,
        pooling, ...). Not with ``classes``; ``stop_at`` does not apply.
    units : "all" | int | list of int, optional
        Layer mode: which channels of ``layer`` (default ``"all"``), each listed once.
    config : AscentConfig, optional
        Every setting as one validated value. Keyword settings that differ from
        their defaults override it (``synthesize(m, config=c, seed=1)`` is ``c.replace(seed=1)``).
    restarts, steps, seed, input_range, objective, tv_weight, parameterization, transforms, learning_rate,
    stop_at, stop_plateau, check_every, max_batch, preprocess, input, output, fixed_inputs, input_shape, jit_compile, devices
        The settings, documented once on :class:`~amaxcheck.ascent.config.AscentConfig`; defaults in
        :mod:`amaxcheck.defaults`.
    labels : list of str, optional
        Class names (length ``n_classes``).
    progress : bool, optional
        A ``keras.utils.Progbar`` (steps, ETA) on stderr. ``None`` (the default): only when
        stderr is a terminal or a notebook, nothing per step in logs; ``True``: always; ``False``: never.
    timings : amaxcheck.timings.Timings, optional
        Where the time goes: the engine's first compiled call, beyond a regular chunk, is
        counted to its ``trace`` stage (out of the stage the caller has open, e.g. ``synthesis``).

    Returns
    -------
    SynthesisResult
        Images in the raw input range, class-major (layer mode: unit-major, ``mode="layer"``,
        views by :meth:`~SynthesisResult.for_unit`), with the real model's probabilities.
        Same seed, model and settings give bit-identical images on CPU.
    """
    started = time.perf_counter()
    given = {"restarts": restarts, "steps": steps, "seed": seed, "input_range": input_range, "objective": objective,
                 "tv_weight": tv_weight, "parameterization": parameterization, "transforms": transforms,
                 "learning_rate": learning_rate, "stop_at": stop_at, "stop_plateau": stop_plateau,
                 "check_every": check_every, "max_batch": max_batch,
                 "preprocess": preprocess, "input": input, "output": output, "fixed_inputs": fixed_inputs,
                 "input_shape": None if input_shape is None else tuple(input_shape), "jit_compile": jit_compile,
                 "devices": devices}
    config = _merge_config(config, given)
    mode = _mode(classes, layer, units)
    if mode == LAYER:
        config = layer_config(config, layer)
    engine = engine_for(model, config, mode)
    if config.preprocess is None:  # a preprocess callable sits between the raw range and the model's layers
        check_model_range(model, config.input_range, engine.adapter.input_index)
    labels = _checked_labels(labels, engine.adapter.n_classes)
    if mode == LAYER:
        assert layer is not None
        n_units = unit_count(layer, engine.adapter.layer_shapes()[layer])
        targets = resolve_units("all" if units is None else units, layer, n_units)
    else:
        targets = resolve_classes("all" if classes is None else classes, engine.adapter.n_classes, labels)
        class_mode_objective(engine.objective, len(targets))
    plan = _plan(engine, targets, config)
    # once per compiled engine (frozen weights give the same answer); it probes the class scores, so not for a layer
    trace = _ascend(engine, plan, config, progress, timings)
    result = _result(model, engine, plan, trace, config, targets, labels, started, layer if mode == LAYER else None)
    _raise_if_diverged(result, trace, plan)
    return result


def _mode(classes: Any, layer: Any, units: Any) -> str:
    """``"classes"`` or ``"layer"``; raises :class:`ConfigError` when ``classes`` and ``layer``/``units`` are mixed."""
    if layer is None:
        if units is not None:
            raise ConfigError(f"units={units!r} selects units of a layer; say which layer with "
                              "synthesize(model, layer='name', units=...)")
        return CLASSES
    if classes is not None:
        raise ConfigError(f"pass either classes={classes!r} (class mode) or layer={layer!r} (layer mode: the "
                          "units of one layer), not both")
    return LAYER


_DEFAULT_CONFIG = AscentConfig()


def _merge_config(config: AscentConfig | None, given: dict[str, Any]) -> AscentConfig:
    """``config`` (default: amaxcheck's defaults) with the keyword settings that differ from their defaults."""
    if config is None:
        return AscentConfig(**given)
    if not isinstance(config, AscentConfig):
        from ..errors import ArgumentTypeError

        raise ArgumentTypeError(f"config must be an amaxcheck AscentConfig, got {type(config).__name__}")
    changed = {k: v for k, v in given.items() if not _same_value(v, getattr(_DEFAULT_CONFIG, k))}
    return config.replace(**changed) if changed else config


def _same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays and other values without a plain equality
        return False


def _checked_labels(labels: Sequence[str] | None, n_classes: int) -> list[str] | None:
    if labels is None:
        return None
    names = [str(label) for label in labels]
    if len(names) != n_classes:
        raise ClassSelectionError(
            f"labels has {len(names)} names but the model has {n_classes} classes; "
            "give exactly one name per class, in class-index order"
        )
    return names
