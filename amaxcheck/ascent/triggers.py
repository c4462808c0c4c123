"""Trigger reversal: the smallest stamp that sends any input to class c (Neural Cleanse, Wang et al., S&P 2019).

For each target class ``c`` a mask ``m`` (one value per pixel, ``sigmoid`` of a
free variable, so in ``[0, 1]``) and a pattern ``p`` (per pixel and channel, in
the model's input range) are optimized so that the stamped image
``(1 - m) * x + m * p`` is classified ``c`` for the user's reference images
``x``, while the mask's L1 norm stays small::

    loss_c = mean_x CE(model((1 - m) * x + m * p), c) + cost_c * sum(m)

All classes run in one batch through the engine's compiled loop (the mask and
pattern are the parameterization, a minibatch of reference images is one more
input, Adam steps through :func:`~amaxcheck.ascent.engine.adam_step`), and the
published schedule runs between compiled epochs, per class:

* ``cost`` starts at 0; after ``patience`` epochs at or above the attack-success
  target (99 %) it is set to ``init_cost`` (1e-3, for the L1 *sum* of the mask);
* then ``patience`` epochs at or above the target multiply it by
  ``cost_multiplier`` and ``patience`` epochs below divide it by
  ``cost_multiplier ** 1.5``;
* the kept mask is the smallest of the epochs that reached the target;
* a class stops early once its cost went both up and down and its best mask has
  not shrunk by 1 % for ``early_stop_patience`` epochs.

The reference images are split once (seeded) into images the masks are fitted
on and held-out images the attack success is measured on. Each class's start
and the minibatch of each step come from the seed alone, so a class's trigger
does not depend on which other classes run beside it, and the same seed gives
bit-identical masks on CPU.

:func:`reverse_triggers` returns a :class:`TriggerResult` (plain arrays);
:mod:`amaxcheck.verdict.triggers` judges it.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import tensorflow as tf

from .. import _cache
from .. import _validate as V
from .. import defaults as D
from ..errors import ConfigError, ReferenceDataError
from .config import AscentConfig
from .engine import adam_step, adapter_for, check_finite_weights, resolve_classes
from .input_range import check_model_range
from .model_adapter import ModelAdapter, fingerprint, require_model
from .parameterization import image_layout
from .progress import Progress

#: a random stream of its own (starts, minibatches, the held-out split), distinct from the class ascent's
_TRIGGER_STREAM = 2**31 - 3
#: Neural Cleanse's Adam (``beta_1=0.5, beta_2=0.9``)
_ADAM_B1, _ADAM_B2 = 0.5, 0.9
#: a best mask must shrink by more than 1 % to reset the early-stop counter (Neural Cleanse's 0.99)
_EARLY_STOP_SHRINK = 0.99


@dataclass(frozen=True)
class TriggerSettings:
    """How triggers are reversed. Defaults in :mod:`amaxcheck.defaults` (``TRIGGER_*``); see the module docstring.

    Attributes
    ----------
    steps : int
        Most optimization steps per class (``epochs * epoch_steps``); classes stop early on patience.
    epoch_steps : int
        Steps between two schedule decisions (Neural Cleanse's "mini batches per epoch").
    batch_size : int
        Reference images per step (Neural Cleanse: 32).
    learning_rate : float
        Adam step size on the mask and pattern variables (Neural Cleanse: 0.1).
    init_cost, cost_multiplier, success_target, patience, early_stop_patience
        The published schedule: 1e-3, 1.5 (down: ``1.5 ** 1.5``), 0.99, 5 epochs, 2 x patience.
    held_out : float
        Share of the reference images kept out of the fit to measure attack success on.
    seed : int
        Drives the starts, the minibatches and the held-out split.
    max_images : int
        Most stamped images in one forward pass (classes x ``batch_size``); more classes run in turn.
    """

    steps: int = D.TRIGGER_STEPS
    epoch_steps: int = D.TRIGGER_EPOCH_STEPS
    batch_size: int = D.TRIGGER_BATCH_SIZE
    learning_rate: float = D.TRIGGER_LEARNING_RATE
    init_cost: float = D.TRIGGER_INIT_COST
    cost_multiplier: float = D.TRIGGER_COST_MULTIPLIER
    success_target: float = D.TRIGGER_SUCCESS_TARGET
    patience: int = D.TRIGGER_PATIENCE
    early_stop_patience: int = D.TRIGGER_EARLY_STOP_PATIENCE
    held_out: float = D.TRIGGER_HELD_OUT
    seed: int = D.SEED
    max_images: int = D.TRIGGER_MAX_IMAGES

    def __post_init__(self) -> None:
        for name in ("steps", "epoch_steps", "batch_size", "patience", "early_stop_patience", "max_images"):
            V.integer(getattr(self, name), f"trigger setting {name}", 1)
        V.integer(self.seed, "trigger setting seed", 0)
        for name in ("learning_rate", "init_cost"):
            V.number(getattr(self, name), f"trigger setting {name}", lo=0.0, lo_open=True)
        V.number(self.cost_multiplier, "trigger setting cost_multiplier", lo=1.0, lo_open=True)
        V.number(self.success_target, "trigger setting success_target", lo=0.0, hi=1.0, lo_open=True)
        V.number(self.held_out, "trigger setting held_out", lo=0.0, hi=1.0, lo_open=True)
        if self.held_out >= 1.0:
            raise ConfigError(f"trigger setting held_out={self.held_out!r} must be below 1: some reference images fit "
                              "the masks, the others measure them (default 0.25)")

    def replace(self, **changes: Any) -> TriggerSettings:
        """A copy with some settings changed (validated again); an unknown name is a :class:`ConfigError`."""
        unknown = sorted(set(changes) - set(asdict(self)))
        if unknown:
            raise ConfigError(f"TriggerSettings has no setting(s) {unknown}; settings are {sorted(asdict(self))}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TriggerResult:
    """The reversed trigger of each class: plain arrays, one row per class in :attr:`classes`.

    ``masks`` are ``(n, H, W)`` in ``[0, 1]`` (the shape of ``mask_shape`` for
    non-image inputs), ``patterns`` are ``(n, *input_shape)`` in the model's raw
    input range. ``mask_l1`` is each mask's L1 norm (sum over pixels) and
    ``mask_fraction`` the same as a share of the image's pixels. ``success`` is
    the attack success on held-out reference images that the model does not
    already put in the class; ``fit_success`` the epoch success the schedule
    saw; ``reached`` whether any epoch reached ``success_target``.
    """

    classes: np.ndarray
    masks: np.ndarray
    patterns: np.ndarray
    mask_l1: np.ndarray
    mask_fraction: np.ndarray
    success: np.ndarray
    fit_success: np.ndarray
    reached: np.ndarray
    held_out_counts: np.ndarray  # per class: held-out images the success is measured on
    steps_run: np.ndarray
    final_cost: np.ndarray
    n_classes: int
    input_shape: tuple[int, ...]
    input_range: tuple[float, float]
    head: str
    settings: dict[str, Any]
    labels: list[str] | None = None
    model_name: str = ""
    model_fingerprint: str = ""
    n_reference: int = 0
    n_fit: int = 0
    wall_time: float = 0.0
    label_source: str = "predicted"  # how "not already in the class" was decided: "labels" or "predicted"
    notes: list[str] = field(default_factory=list)

    def label(self, cls: int) -> str:
        return self.labels[cls] if self.labels else str(cls)

    def row(self, cls: int | str) -> int:
        """Index into the arrays of class ``cls`` (an index or, with labels, a name)."""
        index = resolve_classes(cls, self.n_classes, self.labels)[0]
        where = np.flatnonzero(self.classes == index)
        if not len(where):
            from ..errors import ClassSelectionError

            raise ClassSelectionError(f"class {cls!r} was not reversed; classes here: {self.classes.tolist()}")
        return int(where[0])

    def stamp(self, cls: int | str, images: np.ndarray) -> np.ndarray:
        """``images`` with class ``cls``'s reversed trigger applied (raw range)."""
        j = self.row(cls)
        mask = self.masks[j].reshape(_mask_broadcast(self.input_shape))
        return ((1.0 - mask) * np.asarray(images, np.float32) + mask * self.patterns[j]).astype(np.float32)


# --------------------------------------------------------------------------- the compiled loop
def mask_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """One mask value per pixel: ``(H, W)`` for images (shared by the channels), the input's shape otherwise."""
    layout = image_layout(tuple(input_shape))
    if layout is None:
        return tuple(input_shape)
    return layout[0], layout[1]


def _mask_broadcast(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """How a mask of :func:`mask_shape` broadcasts against one input."""
    shape = tuple(input_shape)
    return (*mask_shape(shape), 1) if len(shape) == 3 else mask_shape(shape)


class _TriggerEngine:
    """The compiled epoch of trigger reversal for one model (cached per model, holds it weakly through the adapter)."""

    def __init__(self, adapter: ModelAdapter, input_range: tuple[float, float], preprocess: Any):
        check_finite_weights(adapter.model)
        self.adapter = adapter
        self.shape = tuple(adapter.input_shape)
        self.mask_view = _mask_broadcast(self.shape)
        self.lo, self.hi = (float(v) for v in input_range)
        self.preprocess = preprocess
        self._compiled: Any = None

    def run_epoch(self, mp, pp, mm, mv, pm, pv, t, refs, idx, targets, cost, active, lr):
        """``idx.shape[0]`` Adam steps; returns the new state and each class's mean success, CE and mask L1."""
        if self._compiled is None:
            def batched(x: Any) -> tf.TensorSpec:
                return tf.TensorSpec([None, *x.shape[1:]], x.dtype)

            scalar = tf.TensorSpec([], tf.float32)
            specs = (batched(mp), batched(pp), batched(mm), batched(mv), batched(pm), batched(pv), scalar,
                     batched(refs), tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32),
                     tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.bool), scalar)
            # an explicit tf.while_loop, traced without autograph's conversion of every function it calls (the
            # model's layers included), as the ascent engine's chunk (see _Engine._compile_chunk)
            self._compiled = tf.function(self._run_epoch, input_signature=specs, autograph=False)
        return self._compiled(mp, pp, mm, mv, pm, pv, t, refs, idx, targets, cost, active, lr)

    def mask_and_pattern(self, mp: tf.Tensor, pp: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Variables to a mask in ``[0, 1]`` (``(B, *mask_view)``) and a pattern in the raw range."""
        mask = tf.reshape(tf.sigmoid(mp), [-1, *self.mask_view])
        return mask, self.lo + (self.hi - self.lo) * tf.sigmoid(pp)

    def _hits(self, log_probs: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """(B, R) bool: is each stamped image classified as its class (multi-label: the label's p >= 0.5)?"""
        if self.adapter.head == "multilabel":
            return tf.gather(log_probs, targets, axis=2, batch_dims=1) >= np.float32(np.log(0.5))
        return tf.equal(tf.argmax(log_probs, axis=2, output_type=tf.int32), targets[:, None])

    def _stamped_scores(self, mask: tf.Tensor, pattern: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """Log-probabilities ``(B, R, C)`` of every reference image stamped with every class's trigger."""
        b, r = tf.shape(mask)[0], tf.shape(x)[0]
        stamped = (1.0 - mask[:, None]) * x[None] + (mask * pattern)[:, None]
        flat = tf.reshape(stamped, [b * r, *self.shape])
        _, log_probs, _ = self.adapter.scores(self.adapter.prepared(flat, self.preprocess))
        return tf.reshape(log_probs, [b, r, self.adapter.n_classes])

    def _run_epoch(self, mp, pp, mm, mv, pm, pv, t, refs, idx, targets, cost, active, lr):
        n = tf.shape(idx)[0]
        zeros = tf.zeros(tf.shape(targets), tf.float32)
        on = tf.cast(active, tf.float32)

        def step(i, mp, pp, mm, mv, pm, pv, t, hit_sum, ce_sum, reg_sum):
            x = tf.gather(refs, idx[i])
            with tf.GradientTape() as tape:
                tape.watch([mp, pp])
                mask, pattern = self.mask_and_pattern(mp, pp)
                log_probs = self._stamped_scores(mask, pattern, x)
                ce = -tf.reduce_mean(tf.gather(log_probs, targets, axis=2, batch_dims=1), axis=1)
                reg = tf.reduce_sum(tf.reshape(mask, [tf.shape(mask)[0], -1]), axis=1)
                loss = tf.reduce_sum((ce + cost * reg) * on)
            gm, gp = tape.gradient(loss, [mp, pp])
            finite = (tf.reduce_all(tf.math.is_finite(tf.reshape(gm, [tf.shape(gm)[0], -1])), axis=1)
                      & tf.reduce_all(tf.math.is_finite(tf.reshape(gp, [tf.shape(gp)[0], -1])), axis=1))
            t = t + 1.0
            mp, mm, mv = adam_step(mp, mm, mv, t, gm, lr, active & finite, finite, _ADAM_B1, _ADAM_B2)
            pp, pm, pv = adam_step(pp, pm, pv, t, gp, lr, active & finite, finite, _ADAM_B1, _ADAM_B2)
            hit_sum += tf.reduce_mean(tf.cast(self._hits(log_probs, targets), tf.float32), axis=1)
            return i + 1, mp, pp, mm, mv, pm, pv, t, hit_sum, ce_sum + ce, reg_sum + reg

        _, mp, pp, mm, mv, pm, pv, t, hit_sum, ce_sum, reg_sum = tf.while_loop(
            lambda i, *_: i < n, step, (tf.constant(0), mp, pp, mm, mv, pm, pv, t, zeros, zeros, zeros))
        k = tf.cast(n, tf.float32)
        return mp, pp, mm, mv, pm, pv, t, hit_sum / k, ce_sum / k, reg_sum / k

    def predicted_hits(self, mp: np.ndarray, pp: np.ndarray, targets: np.ndarray, images: np.ndarray,
                       max_images: int) -> np.ndarray:
        """(B, N) bool: does each class's trigger send each image to the class (eager, batched)?"""
        out = np.zeros((len(targets), len(images)), bool)
        per = max(1, max_images // max(1, len(targets)))
        mask, pattern = self.mask_and_pattern(tf.constant(mp), tf.constant(pp))
        tgt = tf.constant(targets.astype(np.int32))
        for i in range(0, len(images), per):
            lp = self._stamped_scores(mask, pattern, tf.constant(images[i:i + per]))
            out[:, i:i + per] = self._hits(lp, tgt).numpy()
        return out


def trigger_engine_for(model: Any, config: AscentConfig) -> _TriggerEngine:
    """The (cached) trigger engine of ``model`` read as ``config`` says (input, output, head, range, preprocess)."""
    require_model(model)
    key = ("trigger", config.adapter_key, tuple(config.input_range), config.preprocess)
    return _cache.ENGINES.get_or_build(model, key, lambda: _TriggerEngine(adapter_for(model, config),
                                                                          config.input_range, config.preprocess))


# --------------------------------------------------------------------------- the schedule
@dataclass
class _Schedule:
    """Neural Cleanse's per-class cost schedule and best-mask bookkeeping, vectorized over classes."""

    s: TriggerSettings
    n: int

    def __post_init__(self) -> None:
        n = self.n
        self.cost = np.zeros(n, np.float32)
        self.set_counter = np.zeros(n, int)
        self.up_counter = np.zeros(n, int)
        self.down_counter = np.zeros(n, int)
        self.up_flag = np.zeros(n, bool)
        self.down_flag = np.zeros(n, bool)
        self.best_reg = np.full(n, np.inf)
        self.best_success = np.zeros(n)
        self.early_counter = np.zeros(n, int)
        self.early_best = np.full(n, np.inf)
        self.active = np.ones(n, bool)

    def update(self, success: np.ndarray, reg: np.ndarray) -> np.ndarray:
        """One epoch's decisions; returns which classes have a new best mask. Stopped classes are left alone."""
        s, on = self.s, self.active.copy()
        reached = success >= s.success_target
        better = on & reached & (reg < self.best_reg)
        self.best_reg = np.where(better, reg, self.best_reg)
        self.best_success = np.where(on, np.maximum(self.best_success, success), self.best_success)
        found = np.isfinite(self.best_reg)
        stalled = found & (self.best_reg >= _EARLY_STOP_SHRINK * self.early_best)
        self.early_counter = np.where(on & found, np.where(stalled, self.early_counter + 1, 0), self.early_counter)
        self.early_best = np.where(on, np.minimum(self.early_best, self.best_reg), self.early_best)
        stop = on & self.up_flag & self.down_flag & (self.early_counter >= s.early_stop_patience)
        # cost: set once the attack succeeds at cost 0, then up on success, down on failure
        zero = on & (self.cost == 0)
        self.set_counter = np.where(zero & reached, self.set_counter + 1, np.where(on, 0, self.set_counter))
        start = zero & (self.set_counter >= s.patience)
        self.cost = np.where(start, np.float32(s.init_cost), self.cost)
        for arr in (self.up_counter, self.down_counter):
            arr[start] = 0
        self.up_flag[start] = False
        self.down_flag[start] = False
        self.up_counter = np.where(on, np.where(reached, self.up_counter + 1, 0), self.up_counter)
        self.down_counter = np.where(on, np.where(reached, 0, self.down_counter + 1), self.down_counter)
        up = on & ~zero & (self.up_counter >= s.patience)
        down = on & ~zero & ~up & (self.down_counter >= s.patience)
        self.cost = np.where(up, self.cost * s.cost_multiplier,
                             np.where(down, self.cost / s.cost_multiplier ** 1.5, self.cost)).astype(np.float32)
        self.up_counter[up] = 0
        self.down_counter[down] = 0
        self.up_flag |= up
        self.down_flag |= down
        self.active &= ~stop
        return better


# --------------------------------------------------------------------------- one run
def _split(n: int, settings: TriggerSettings) -> tuple[np.ndarray, np.ndarray]:
    """Fit and held-out indices: a seeded permutation, at least one image on each side."""
    order = np.random.default_rng([settings.seed, _TRIGGER_STREAM]).permutation(n)
    n_held = min(n - 1, max(1, round(settings.held_out * n)))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def _minibatches(settings: TriggerSettings, epoch: int, n_fit: int) -> np.ndarray:
    """The reference indices of every step of one epoch (the same for every class): ``(epoch_steps, R)``."""
    rng = np.random.default_rng([settings.seed, _TRIGGER_STREAM, epoch])
    r = min(settings.batch_size, n_fit)
    return np.stack([rng.choice(n_fit, size=r, replace=False) for _ in range(settings.epoch_steps)]).astype(np.int32)


def _starts(settings: TriggerSettings, classes: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each class's starting mask and pattern variables: uniform in ``[0, 1]`` through the inverse sigmoid."""
    def logit(u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.02, 0.98)
        return np.log(u / (1.0 - u)).astype(np.float32)

    mps, pps = [], []
    for c in classes:
        rng = np.random.default_rng([settings.seed, _TRIGGER_STREAM, int(c)])
        mps.append(logit(rng.uniform(0.0, 1.0, mask_shape(shape))))
        pps.append(logit(rng.uniform(0.0, 1.0, shape)))
    return np.stack(mps), np.stack(pps)


def _reverse_chunk(engine: _TriggerEngine, fit: np.ndarray, classes: np.ndarray, s: TriggerSettings,
                   bar: Progress) -> tuple[np.ndarray, np.ndarray, _Schedule, np.ndarray, np.ndarray]:
    mp0, pp0 = _starts(s, classes, engine.shape)
    mp, pp = tf.constant(mp0), tf.constant(pp0)
    mm, mv, pm, pv = (tf.zeros_like(mp), tf.zeros_like(mp), tf.zeros_like(pp), tf.zeros_like(pp))
    t, lr = tf.constant(0.0), tf.constant(float(s.learning_rate), tf.float32)
    sched = _Schedule(s, len(classes))
    best_mp, best_pp = mp0.copy(), pp0.copy()
    steps_run = np.zeros(len(classes), np.int32)
    last_success = np.zeros(len(classes))
    refs, targets = tf.constant(fit), tf.constant(classes.astype(np.int32))
    epochs = -(-s.steps // s.epoch_steps)
    for epoch in range(epochs):
        idx = _minibatches(s, epoch, len(fit))[:s.steps - epoch * s.epoch_steps]
        was = sched.active.copy()
        mp, pp, mm, mv, pm, pv, t, success, _, reg = engine.run_epoch(
            mp, pp, mm, mv, pm, pv, t, refs, tf.constant(idx), targets, tf.constant(sched.cost),
            tf.constant(was), lr)
        success, reg = success.numpy().astype(np.float64), reg.numpy().astype(np.float64)
        steps_run += np.where(was, len(idx), 0).astype(np.int32)
        last_success = np.where(was, success, last_success)
        better = sched.update(success, reg)
        if better.any():
            best_mp[better] = mp.numpy()[better]
            best_pp[better] = pp.numpy()[better]
        bar.advance(len(idx))
        if not sched.active.any():
            bar.advance(s.steps - (epoch * s.epoch_steps + len(idx)))
            break
    never = ~np.isfinite(sched.best_reg)  # no epoch reached the target: keep the last iterate, marked
    best_mp[never] = mp.numpy()[never]
    best_pp[never] = pp.numpy()[never]
    return best_mp, best_pp, sched, steps_run, last_success


def reverse_triggers(
    model: Any,
    reference: Any,
    classes: Any = "all",
    *,
    reference_labels: Any = None,
    settings: TriggerSettings | None = None,
    config: AscentConfig | None = None,
    labels: Sequence[str] | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> TriggerResult:
    """Reverse-engineer, for each class, the smallest mask and pattern that send reference images to it.

    Parameters
    ----------
    model : keras.Model
        The classifier under test (never modified).
    reference : array ``(n, *input_shape)``
        Real images in the model's raw input range (``config.input_range``); labels are
        not needed. At least 10 (a few hundred is better: the masks are fitted on one
        part and measured on the held-out part).
    classes : "all" | int | str | list
        Target classes (default all: the anomaly index compares classes with each other).
    reference_labels : array, optional
        True labels; then "already in the class" is decided by them, else by the model.
    settings : TriggerSettings, optional
        The reversal's schedule; keyword ``overrides`` (``steps=``, ``seed=``...) replace fields.
    config : AscentConfig, optional
        How the model is read: ``input_range``, ``preprocess``, ``input``, ``output``, ``head``.
    labels : list of str, optional
        Class names.
    progress : bool, optional
        A progress bar on stderr (default: only on a terminal).
    """
    from ..verdict.checks import validate_reference

    started = time.perf_counter()
    settings = (settings or TriggerSettings()).replace(**overrides) if overrides else (settings or TriggerSettings())
    config = config or AscentConfig()
    engine = trigger_engine_for(model, config)
    adapter = engine.adapter
    if reference is None:
        raise ReferenceDataError(
            "trigger reversal needs reference images: real inputs the reversed stamp is applied to. Pass "
            "reference=<array of shape (n, *input_shape) in the model's input range> (a few hundred; labels are "
            "optional), or --reference FILE.npz on the command line")
    x, y = validate_reference(reference, reference_labels, engine.shape, config.input_range, adapter.n_classes,
                              adapter.head)
    if len(x) < D.TRIGGER_MIN_REFERENCE:
        raise ReferenceDataError(
            f"trigger reversal got {len(x)} reference image(s); it needs at least {D.TRIGGER_MIN_REFERENCE} (masks "
            "are fitted on some and measured on the others). Pass more real images of the model's task")
    if labels is not None and len(labels) != adapter.n_classes:
        from ..errors import ClassSelectionError

        raise ClassSelectionError(f"labels has {len(labels)} names but the model has {adapter.n_classes} classes")
    if config.preprocess is None:
        check_model_range(model, config.input_range, adapter.input_index)
    targets = np.asarray(resolve_classes(classes, adapter.n_classes, labels), np.int32)
    fit_idx, held_idx = _split(len(x), settings)
    fit, held = x[fit_idx], x[held_idx]
    per_chunk = max(1, settings.max_images // min(settings.batch_size, len(fit)))
    n = len(targets)
    mp_all = np.zeros((n, *mask_shape(engine.shape)), np.float32)
    pp_all = np.zeros((n, *engine.shape), np.float32)
    reached = np.zeros(n, bool)
    fit_success = np.zeros(n)
    best_reg = np.zeros(n)
    steps_run = np.zeros(n, np.int32)
    final_cost = np.zeros(n, np.float32)
    bar = Progress(total=settings.steps * (-(-n // per_chunk)), enabled=progress)
    try:
        for c0 in range(0, n, per_chunk):
            sl = slice(c0, min(n, c0 + per_chunk))
            mp, pp, sched, run, last = _reverse_chunk(engine, fit, targets[sl], settings, bar)
            mp_all[sl], pp_all[sl], steps_run[sl], final_cost[sl] = mp, pp, run, sched.cost
            reached[sl] = np.isfinite(sched.best_reg)
            fit_success[sl] = np.where(reached[sl], sched.best_success, last)
            best_reg[sl] = sched.best_reg
    finally:
        bar.close()
    # held-out attack success, on images that are not already in the class
    held_classes = _held_out_classes(adapter, held, None if y is None else y[held_idx])
    hits = engine.predicted_hits(mp_all, pp_all, targets, held, settings.max_images)
    mask, pattern = engine.mask_and_pattern(tf.constant(mp_all), tf.constant(pp_all))
    masks = tf.reshape(mask, [n, *mask_shape(engine.shape)]).numpy()
    l1 = masks.reshape(n, -1).sum(axis=1)
    success, counts = np.zeros(n), np.zeros(n, int)
    for j, c in enumerate(targets):
        others = ~held_classes[:, c]
        counts[j] = int(others.sum())
        success[j] = float(hits[j, others].mean()) if counts[j] else float("nan")
    return TriggerResult(
        classes=targets, masks=masks, patterns=pattern.numpy(), mask_l1=l1, mask_fraction=l1 / masks[0].size,
        success=success, fit_success=fit_success, reached=reached, held_out_counts=counts, steps_run=steps_run,
        final_cost=final_cost, n_classes=adapter.n_classes, input_shape=tuple(engine.shape),
        input_range=(engine.lo, engine.hi), head=adapter.head, settings=settings.as_dict(),
        labels=None if labels is None else [str(v) for v in labels],
        model_name=getattr(model, "name", type(model).__name__), model_fingerprint=fingerprint(model),
        n_reference=len(x), n_fit=len(fit), wall_time=time.perf_counter() - started,
        label_source="predicted" if y is None else "labels")


def cached_reverse_triggers(model: Any, reference: Any, *, reference_labels: Any = None,
                            settings: TriggerSettings | None = None, config: AscentConfig | None = None,
                            labels: Sequence[str] | None = None, progress: bool | None = None) -> TriggerResult:
    """:func:`reverse_triggers` of every class, served from :data:`amaxcheck._cache.RESULTS` when the same run was made.

    The key holds the weights, the settings, how the model is read and a digest of the reference data.
    """
    import hashlib

    settings, config = settings or TriggerSettings(), config or AscentConfig()
    digest = hashlib.sha1()
    for part in (reference, reference_labels):
        if part is not None:
            arr = np.ascontiguousarray(np.asarray(part))
            digest.update(repr((arr.shape, arr.dtype.str)).encode())
            digest.update(arr.tobytes())
    key = ("triggers", *_cache.result_key(model, "all", labels, settings),
           config.adapter_key, tuple(config.input_range), config.preprocess, digest.hexdigest())
    return _cache.RESULTS.get_or_build(key, lambda: reverse_triggers(
        model, reference, reference_labels=reference_labels, settings=settings, config=config, labels=labels,
        progress=progress))


def _held_out_classes(adapter: ModelAdapter, images: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """(N, C) bool: which classes each held-out image already belongs to (its labels, else the model's reading)."""
    n_classes = adapter.n_classes
    if labels is not None:
        from ..verdict.checks import multi_hot

        if adapter.head == "multilabel" or np.asarray(labels).ndim == 2 and np.asarray(labels).shape[1] > 1:
            return multi_hot(np.asarray(labels), n_classes).astype(bool)
        flat = np.asarray(labels).reshape(len(images), -1)[:, 0].astype(int)
        return np.eye(n_classes, dtype=bool)[flat]
    probs = adapter.probabilities(images)
    if adapter.head == "multilabel":
        return probs >= 0.5
    return np.eye(n_classes, dtype=bool)[np.argmax(probs, axis=1)]
