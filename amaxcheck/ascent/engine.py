"""The one compiled ascent engine. Everything else in amaxcheck calls :func:`synthesize`.

One batch holds every (class, restart) sample, split by ``max_batch``. Each
chunk of ``check_every`` steps runs inside a single ``tf.function`` (an
in-graph loop: forward, backward, Adam, per-sample masking), so Python is
entered once per chunk, not once per step. Between chunks the clean
(untransformed) inputs are scored once to keep each sample's best iterate and
to stop samples early.
"""
from __future__ import annotations

import time
import weakref
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from ..errors import AscentDivergedError, ClassSelectionError, ConfigError
from .gradient_probe import check_gradient_path
from .model_adapter import ModelAdapter, adapt, fingerprint
from .objectives import AscentContext, Objective, default_objective
from .parameterization import image_layout, make_parameterization
from .progress import Progress
from .result import SynthesisResult
from .transforms import N_RANDOM, Transforms, apply_transforms

#: default weight of total variation in the default objective (unit image, per pixel pair)
DEFAULT_TV_WEIGHT = 0.05
_ADAM_B1, _ADAM_B2, _ADAM_EPS = 0.9, 0.999, 1e-8
#: starting points probed for a gradient path, and as many random inputs across the range
_PROBE_STARTS = 4
#: a random stream of its own, distinct from every (seed, class, restart) sample stream
_PROBE_STREAM = 2**31 - 1


# --------------------------------------------------------------------------- helpers
def resolve_classes(classes: Any, n_classes: int, labels: Optional[Sequence[str]]) -> list[int]:
    """Turn ``"all"``, an int, a label, or a list of them into class indices (validated)."""
    if isinstance(classes, str) and classes == "all":
        return list(range(n_classes))
    items = [classes] if isinstance(classes, (int, np.integer, str)) else list(classes)
    if not items:
        raise ClassSelectionError("classes is empty; pass 'all', an index, a label, or a list of them")
    out = []
    for item in items:
        if isinstance(item, str):
            if labels is None:
                raise ClassSelectionError(f"class {item!r} is a name but no labels were given; pass labels=[...] or an index")
            if item not in labels:
                import difflib

                close = difflib.get_close_matches(item, list(labels), n=3)
                raise ClassSelectionError(
                    f"unknown label {item!r}" + (f"; did you mean {close}?" if close else f"; labels are {list(labels)}")
                )
            out.append(list(labels).index(item))
        elif isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise ClassSelectionError(f"class {item!r} is neither an index nor a label")
        else:
            if not 0 <= int(item) < n_classes:
                raise ClassSelectionError(
                    f"class index {int(item)} is out of range: the model has {n_classes} classes (0..{n_classes - 1})"
                )
            out.append(int(item))
    return list(dict.fromkeys(out))


def _validate_range(input_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ConfigError(f"input_range must be two numbers (lo, hi), got {input_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        raise ConfigError(f"input_range must satisfy lo < hi with finite values, got ({lo}, {hi}); e.g. (0, 1) or (0, 255)")
    return lo, hi


def _sample_rng(seed: int, cls: int, restart: int) -> np.random.Generator:
    """One generator per sample: its start and transforms do not depend on batching or other classes."""
    return np.random.default_rng([int(seed), int(cls), int(restart)])


def _expand(mask: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([tf.rank(like) - 1], tf.int32)], 0))


# --------------------------------------------------------------------------- engine
class _Engine:
    """Compiled functions for one (model, objective, parameterization, transforms, range) combination."""

    def __init__(self, adapter: ModelAdapter, objective: Objective, param, transforms: Transforms,
                 input_range: tuple[float, float], preprocess: Optional[Callable], jit_compile: bool):
        self.adapter = adapter.with_layers(objective.layers)
        self.objective, self.param, self.transforms = objective, param, transforms
        self.lo, self.hi = input_range
        self.preprocess = preprocess
        self.shape = adapter.input_shape
        self.run_chunk = tf.function(self._run_chunk, jit_compile=jit_compile, reduce_retracing=True)
        self.evaluate = tf.function(self._evaluate, reduce_retracing=True)
        self.gradient_path_checked = False

    def check_gradient_path(self, starts: np.ndarray, seed: int) -> None:
        """Fail fast, naming the culprit layer, if the scores have no gradient w.r.t. the input.

        Probes the given starting parameters and ``_PROBE_STARTS`` uniform random
        inputs across the range: one point where every ReLU is off is not a missing path.
        """
        start_units = self.param.to_unit(tf.constant(starts)).numpy()
        random_units = np.random.default_rng([int(seed), _PROBE_STREAM]).uniform(
            0.0, 1.0, (_PROBE_STARTS,) + start_units.shape[1:]).astype(np.float32)
        probes = self.to_raw(tf.constant(np.concatenate([start_units, random_units]))).numpy()
        check_gradient_path(self.adapter, probes, self.preprocess)
        self.gradient_path_checked = True

    def to_raw(self, unit: tf.Tensor) -> tf.Tensor:
        return self.lo + (self.hi - self.lo) * unit

    def _objective(self, unit: tf.Tensor, seen_unit: tf.Tensor, targets: tf.Tensor):
        raw = self.to_raw(seen_unit)
        logits, log_probs, acts = self.adapter.scores(self.adapter.prepared(raw, self.preprocess))
        ctx = AscentContext(logits=logits, log_probs=log_probs, targets=targets, unit_image=unit,
                            model_input=raw, activations=acts)
        return tf.cast(self.objective(ctx), tf.float32), log_probs

    def _evaluate(self, params, targets):
        unit = self.param.to_unit(params)
        obj, log_probs = self._objective(unit, unit, targets)
        p = tf.exp(tf.gather(log_probs, targets, axis=1, batch_dims=1))
        return obj, p

    def _run_chunk(self, params, m, v, t, noise, active, targets, lr):
        n = tf.shape(noise)[1]
        history = tf.TensorArray(tf.float32, size=n)
        nonfinite = tf.zeros_like(active)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                tape.watch(params)
                unit = self.param.to_unit(params)
                seen = apply_transforms(unit, noise[:, i], self.transforms, self.shape)
                obj, _ = self._objective(unit, seen, targets)
                loss = -tf.reduce_sum(obj * tf.cast(active, tf.float32))
            g = tape.gradient(loss, params)
            flat = tf.reshape(g, [tf.shape(g)[0], -1])
            finite = tf.reduce_all(tf.math.is_finite(flat), axis=1) & tf.math.is_finite(obj)
            update = active & finite
            nonfinite = nonfinite | (active & ~finite)
            t = t + 1.0
            g = tf.where(_expand(finite, g), g, tf.zeros_like(g))
            m_new = _ADAM_B1 * m + (1.0 - _ADAM_B1) * g
            v_new = _ADAM_B2 * v + (1.0 - _ADAM_B2) * tf.square(g)
            m_hat = m_new / (1.0 - tf.pow(_ADAM_B1, t))
            v_hat = v_new / (1.0 - tf.pow(_ADAM_B2, t))
            step = lr * m_hat / (tf.sqrt(v_hat) + _ADAM_EPS)
            mask = _expand(update, params)
            params = tf.where(mask, params - step, params)
            m = tf.where(mask, m_new, m)
            v = tf.where(mask, v_new, v)
            history = history.write(i, tf.where(active, obj, tf.fill(tf.shape(obj), np.float32(np.nan))))
            active = update
        return params, m, v, t, active, nonfinite, tf.transpose(history.stack())


_ENGINES: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _engine_for(model, key, build: Callable[[], _Engine]) -> _Engine:
    """Reuse compiled engines per model and configuration (tracing costs seconds)."""
    per_model = _ENGINES.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


# --------------------------------------------------------------------------- public
def synthesize(
    model: Any,
    classes: Any = "all",
    *,
    restarts: int = 4,
    steps: int = 256,
    seed: int = 0,
    input_range: tuple[float, float] = (0.0, 1.0),
    objective: Optional[Objective] = None,
    parameterization: str = "pixel",
    transforms: Transforms | str | None = "auto",
    learning_rate: float = 0.05,
    stop_at: Optional[float] = None,
    check_every: int = 16,
    max_batch: int = 256,
    preprocess: Optional[Callable[[tf.Tensor], tf.Tensor]] = None,
    labels: Optional[Sequence[str]] = None,
    input: Optional[str | int] = None,
    output: Optional[str | int] = None,
    fixed_inputs: Optional[Mapping[str, Any]] = None,
    input_shape: Optional[Sequence[int]] = None,
    progress: Optional[bool] = None,
    jit_compile: bool = False,
) -> SynthesisResult:
    """Synthesize the input each class wants most (activation maximization).

    Parameters
    ----------
    model : keras.Model
        A trained classifier. It is never modified; weights stay frozen.
    classes : "all" | int | str | list
        Target classes by index or, with ``labels``, by name.
    restarts : int
        Independent starts per class (different seeds), all in the same batch.
    steps : int
        Ascent steps per sample (Adam on the parameterization).
    seed : int
        Drives every random number (starts and transforms). Same seed, model and
        settings give bit-identical images on CPU.
    input_range : (lo, hi)
        The model's raw input range, e.g. ``(0, 255)`` for models that rescale
        internally. Inputs are kept strictly inside it by a sigmoid.
    objective : Objective, optional
        What to maximize; default ``class_log_prob() - 0.05 * total_variation()``
        (log-probability raises confidence; plain logits need not).
    parameterization : "pixel" | "fourier"
    transforms : Transforms | "auto" | None
        Per-step random jitter/zoom/rotation/blur; "auto" scales with image size.
    learning_rate : float
        Adam step size in parameter space.
    stop_at : float, optional
        Stop a sample once its target probability reaches this value (best iterate kept).
    check_every : int
        Steps per compiled chunk; best iterate and early stop are checked between chunks.
    max_batch : int
        Most samples optimized at once (memory bound for large models).
    preprocess : callable, optional
        Applied in-graph to the raw input before the model (e.g. a normalization the model expects).
    labels : list of str, optional
        Class names (length ``n_classes``).
    input, output, fixed_inputs : optional
        Multi-input models: which input to optimize and values for the others.
        Multi-output models: which output holds the class scores.
    input_shape : tuple, optional
        Needed for subclassed models or inputs with undefined sizes.
    progress : bool, optional
        Progress bar on stderr; default on only when stderr is a terminal.
    jit_compile : bool
        XLA-compile the chunk (measured slower on CPU for small CNNs; off by default).

    Returns
    -------
    SynthesisResult
        Images in the raw input range, class-major, with the real model's probabilities.
    """
    started = time.perf_counter()
    lo, hi = _validate_range(input_range)
    for name, value, minimum in (("restarts", restarts, 1), ("steps", steps, 1), ("check_every", check_every, 1),
                                 ("max_batch", max_batch, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if stop_at is not None and not 0.0 < float(stop_at) <= 1.0:
        raise ConfigError(f"stop_at must be a probability in (0, 1], got {stop_at!r}")
    if not np.isfinite(learning_rate) or learning_rate <= 0:
        raise ConfigError(f"learning_rate must be a positive number, got {learning_rate!r}")

    adapter = adapt(model, input=input, output=output, fixed_inputs=fixed_inputs, input_shape=input_shape)
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != adapter.n_classes:
            raise ClassSelectionError(
                f"labels has {len(labels)} names but the model has {adapter.n_classes} classes; "
                "give exactly one name per class, in class-index order"
            )
    targets = resolve_classes(classes, adapter.n_classes, labels)
    objective = default_objective(DEFAULT_TV_WEIGHT) if objective is None else objective
    if not isinstance(objective, Objective):
        raise ConfigError(f"objective must be an amaxcheck Objective (see amaxcheck.objectives), got {type(objective).__name__}")
    if transforms == "auto":
        transforms = Transforms.auto(adapter.input_shape)
    elif transforms is None or transforms == "none":
        transforms = Transforms.none()
    elif not isinstance(transforms, Transforms):
        raise ConfigError(f"transforms must be 'auto', None or a Transforms(...), got {transforms!r}")
    if jit_compile and transforms.warps and image_layout(adapter.input_shape) is not None:
        raise ConfigError(
            f"jit_compile=True cannot compile the random warp of {transforms} (XLA has no kernel for "
            "ImageProjectiveTransformV3); pass transforms=None or Transforms(blur=...) with it, or leave "
            "jit_compile off (measured 2.3x slower than the default on CPU for the digits CNN: benchmarks/bench_ascent.py --jit)"
        )
    param = make_parameterization(parameterization, adapter.input_shape)

    key = (repr(objective), id(objective) if type(objective).__name__ == "Custom" else 0, repr(param), transforms,
           lo, hi, id(preprocess), adapter.input_index, adapter.output_index, jit_compile,
           tuple(sorted((k, v.tobytes()) for k, v in adapter.fixed_inputs.items())))
    engine = _engine_for(model, key, lambda: _Engine(adapter, objective, param, transforms, (lo, hi), preprocess, jit_compile))

    samples = [(c, r) for c in targets for r in range(restarts)]
    n = len(samples)
    rngs = [_sample_rng(seed, c, r) for c, r in samples]
    params0 = np.stack([param.init(g) for g in rngs])
    noise = np.stack([g.uniform(-1.0, 1.0, (steps, N_RANDOM)).astype(np.float32) for g in rngs])
    class_arr = np.array([c for c, _ in samples], np.int32)
    restart_arr = np.array([r for _, r in samples], np.int32)

    if not engine.gradient_path_checked:  # once per compiled engine: frozen weights give the same answer
        engine.check_gradient_path(params0[:_PROBE_STARTS], seed)

    best = np.empty_like(params0)
    history = np.full((n, steps), np.nan, np.float32)
    steps_run = np.zeros(n, np.int32)
    diverged_at = np.full(n, -1, np.int32)
    bar = Progress(total=steps * ((n + max_batch - 1) // max_batch), enabled=progress)
    lr = tf.constant(learning_rate, tf.float32)
    try:
        for b0 in range(0, n, max_batch):
            sl = slice(b0, min(n, b0 + max_batch))
            tgt = tf.constant(class_arr[sl])
            params = tf.constant(params0[sl])
            m = tf.zeros_like(params)
            v = tf.zeros_like(params)
            t = tf.constant(0.0)
            active = tf.ones([sl.stop - sl.start], tf.bool)
            best_params = params
            best_score, _ = engine.evaluate(params, tgt)
            best_score = tf.where(tf.math.is_finite(best_score), best_score, -np.inf)
            done = 0
            while done < steps:
                k = min(check_every, steps - done)
                was_active = active.numpy()
                params, m, v, t, active, nonfinite, hist = engine.run_chunk(
                    params, m, v, t, tf.constant(noise[sl, done:done + k]), active, tgt, lr)
                history[sl, done:done + k] = hist.numpy()
                steps_run[sl] += np.where(was_active, k, 0).astype(np.int32)
                bad = nonfinite.numpy()
                if bad.any():
                    idx = np.arange(sl.start, sl.stop)[bad & (diverged_at[sl] < 0)]
                    diverged_at[idx] = done + np.argmax(np.isnan(history[idx, done:done + k]), axis=1)
                score, p = engine.evaluate(params, tgt)
                better = tf.math.is_finite(score) & (score > best_score)
                best_params = tf.where(_expand(better, params), params, best_params)
                best_score = tf.where(better, score, best_score)
                if stop_at is not None:
                    active = active & (p < float(stop_at))
                done += k
                bar.advance(k)
                if not bool(tf.reduce_any(active)):
                    bar.advance(steps - done)
                    break
            best[sl] = best_params.numpy()
    finally:
        bar.close()

    unit = np.concatenate([engine.param.to_unit(tf.constant(best[i:i + max_batch])).numpy() for i in range(0, n, max_batch)])
    images = (lo + (hi - lo) * unit).astype(np.float32)
    images = np.clip(images, lo, hi)
    unit0 = np.concatenate([engine.param.to_unit(tf.constant(params0[i:i + max_batch])).numpy() for i in range(0, n, max_batch)])
    initial = (lo + (hi - lo) * unit0).astype(np.float32)
    probabilities = adapter.probabilities(images)
    settings = {
        "classes": targets, "restarts": int(restarts), "steps": int(steps), "seed": int(seed),
        "input_range": [lo, hi], "objective": repr(objective), "parameterization": parameterization,
        "transforms": transforms.as_dict(), "learning_rate": float(learning_rate),
        "stop_at": None if stop_at is None else float(stop_at), "check_every": int(check_every),
        "max_batch": int(max_batch), "preprocess": None if preprocess is None else getattr(preprocess, "__name__", "callable"),
        "input": adapter.input_names[adapter.input_index], "output": output, "jit_compile": bool(jit_compile),
    }
    result = SynthesisResult(
        images=images, classes=class_arr, restarts=restart_arr, probabilities=probabilities, history=history,
        steps_run=steps_run, settings=settings, input_range=(lo, hi), n_classes=adapter.n_classes,
        labels=None if labels is None else list(labels), logits_source=adapter.logits_source,
        model_name=getattr(model, "name", type(model).__name__), model_fingerprint=fingerprint(model),
        wall_time=time.perf_counter() - started, diverged=diverged_at >= 0,
        initial_images=initial, model=model, adapter=adapter,
        call_kwargs=dict(
            restarts=restarts, steps=steps, seed=seed, input_range=(lo, hi), objective=objective,
            parameterization=parameterization, transforms=transforms, learning_rate=learning_rate, stop_at=stop_at,
            check_every=check_every, max_batch=max_batch, preprocess=preprocess, input=input, output=output,
            fixed_inputs=fixed_inputs, input_shape=input_shape, jit_compile=jit_compile,
        ),
    )
    if result.diverged.any():
        where = [(int(class_arr[i]), int(restart_arr[i]), int(diverged_at[i])) for i in np.flatnonzero(result.diverged)]
        shown = ", ".join(f"class {c} restart {r} at step {s}" for c, r, s in where[:10])
        raise AscentDivergedError(
            f"the ascent produced NaN/Inf for {len(where)} sample(s): {shown}{' ...' if len(where) > 10 else ''}. "
            "Those samples stopped at their last finite iterate (see .result). Likely causes: a layer that "
            "overflows for inputs at the range bounds (check input_range), log of zero in a custom objective, "
            "or a learning_rate that is too high.",
            where, result,
        )
    return result
