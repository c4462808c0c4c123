"""Checks on synthesized ideal inputs, their naturalness, and the verdict: did the model learn anything?

:func:`check` scores each class's ideal inputs with the real model (confidence,
top-k, reference recall, image statistics, naturalness) and asks the verdict's
question with explicit evidence:

* the **control** (:func:`amaxcheck.verdict.controls.learned_nothing_control`):
  re-initialized twins of the model, synthesized on a fixed set of classes with a
  fixed seed -- an explicit, cached input (``control=``), the same for any subset
  of classes and any seed;
* the **signals** (:mod:`amaxcheck.verdict.signals`): weights still at their
  initialization, reach against the twins' floor, held-out accuracy against chance;
* the **decision** (:mod:`amaxcheck.verdict.decision`): ``healthy``,
  ``degenerate`` or ``inconclusive``, with reasons quoting the numbers.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validate as V
from .. import defaults as D
from ..ascent.input_range import check_reference_spread
from ..errors import AmaxcheckError, ArgumentTypeError, ConfigError, DataError, ReferenceDataError
from . import naturalness as N
from . import signals as G
from . import stats as S
from .decision import Decision, decide
from .report import FAIL, PASS, SKIP, CheckResult, ClassReport, RankedClass, Report
from .unit_report import LayerReport


# --------------------------------------------------------------------------- validation
def validate_reference(reference: Any, reference_labels: Any, input_shape: Sequence[int],
                       input_range: Sequence[float], n_classes: int,
                       head: str = "softmax") -> tuple[np.ndarray, np.ndarray | None]:
    """Check reference images/labels against the model; return them as float32 / int64 arrays.

    Labels are one class index per image; a binary head also takes Keras' ``(n, 1)``
    column of 0/1, and a multi-label head a multi-hot ``(n, n_classes)`` array of 0/1
    (returned 2-D).
    """
    x = np.asarray(reference)
    if x.dtype.kind not in "fiub":
        raise ReferenceDataError(f"reference images have dtype {x.dtype}; pass a numeric array (float32 preferred)")
    shape = tuple(int(s) for s in input_shape)
    if x.shape == shape:
        x = x[None]
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ReferenceDataError(
            f"reference images have shape {x.shape}; the model's input is {shape}, so pass an array of shape "
            f"(n, {', '.join(map(str, shape))})"
        )
    if len(x) == 0:
        raise ReferenceDataError("reference holds no images; pass at least one per class, or none at all")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ReferenceDataError(f"reference images contain {int(np.sum(~np.isfinite(x)))} NaN/Inf values; clean them first")
    lo, hi = float(input_range[0]), float(input_range[1])
    tol = 0.01 * (hi - lo)
    if x.min() < lo - tol or x.max() > hi + tol:
        hint = " (they look like 0..255 pixels: divide by 255, or synthesize with input_range=(0, 255))" \
            if x.max() > 1.5 and hi <= 1.0 else ""
        raise ReferenceDataError(
            f"reference values span [{x.min():g}, {x.max():g}] but the model's input_range is ({lo:g}, {hi:g}){hint}; "
            "reference images must be in the model's raw input range"
        )
    check_reference_spread(x, input_range)
    y = None
    if reference_labels is not None:
        y = np.asarray(reference_labels)
        if head == "binary" and y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if head == "multilabel" and y.ndim == 2:
            return x, _multi_hot(y, len(x), n_classes)
        if y.ndim != 1 or len(y) != len(x):
            raise ReferenceDataError(
                f"reference labels have shape {y.shape} but there are {len(x)} reference images; give one integer label per image"
            )
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        if y.dtype.kind == "b":  # a binary head's True/False
            y = y.astype(np.int64)
        if y.dtype.kind not in "iu":
            raise ReferenceDataError(f"reference labels have dtype {y.dtype}; pass integer class indices")
        if y.min() < 0 or y.max() >= n_classes:
            raise ReferenceDataError(
                f"reference labels span {int(y.min())}..{int(y.max())} but the model has classes 0..{n_classes - 1}"
            )
        y = y.astype(np.int64)
    return x, y


def _multi_hot(y: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    """A multi-label head's ``(n, n_classes)`` labels of 0/1, validated, as int64."""
    if y.shape != (n, n_classes):
        raise ReferenceDataError(
            f"multi-hot reference labels have shape {y.shape}; with {n} images and {n_classes} labels pass "
            f"({n}, {n_classes}) of 0/1, or one integer class index per image")
    if y.dtype.kind not in "iubf" or not np.all(np.isin(y, (0, 1))):
        raise ReferenceDataError("multi-hot reference labels must hold only 0 and 1 (1: the label is present)")
    return y.astype(np.int64)


def multi_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Labels as a multi-hot ``(n, n_classes)`` int array: class indices become one-hot rows."""
    y = np.asarray(labels)
    return y.astype(np.int64) if y.ndim == 2 else np.eye(n_classes, dtype=np.int64)[y]


# --------------------------------------------------------------------------- perturbations
def perturbations(images: np.ndarray, input_range: Sequence[float]) -> dict[str, np.ndarray]:
    """Mild, label-preserving changes a learned feature survives and brittle noise does not.

    Images: Gaussian blur (sigma = side/32, at least 0.5 px), a shift by side/16
    pixels (at least 1, edge-replicated), and down- then up-scaling by 2.
    Vectors: additive Gaussian noise of 2% of the range.
    """
    from skimage.filters import gaussian
    from skimage.transform import resize

    lo, hi = float(input_range[0]), float(input_range[1])
    x = np.asarray(images, np.float32)
    if not S.is_image(x[0]):
        rng = np.random.default_rng(0)
        return {"noise 2%": np.clip(x + rng.normal(0, 0.02 * (hi - lo), x.shape), lo, hi).astype(np.float32)}
    h, w = x.shape[1], x.shape[2]
    side = min(h, w)
    sigma = max(0.5, side / 32)
    shift = max(1, round(side / 16))
    channel_axis = -1 if x.ndim == 4 else None
    blurred = np.stack([gaussian(im, sigma=sigma, channel_axis=channel_axis, preserve_range=True) for im in x])
    pad = [(0, 0), (0, 0), (shift, 0)] + ([(0, 0)] if x.ndim == 4 else [])
    shifted = np.pad(x, pad, mode="edge")[:, :, :w]
    small = (max(2, h // 2), max(2, w // 2)) + x.shape[3:]
    downup = np.stack([resize(resize(im, small, order=1, anti_aliasing=True), im.shape, order=1) for im in x])
    return {
        f"blur sigma={sigma:g}px": blurred.astype(np.float32),
        f"shift {shift}px": shifted.astype(np.float32),
        "down/up-scale x2": np.clip(downup, lo, hi).astype(np.float32),
    }


def retained_confidence(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, classes: np.ndarray,
                        input_range: Sequence[float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per image: mean over :func:`perturbations` of ``min(1, p_perturbed / p_original)``, and each perturbation's p."""
    idx = np.arange(len(images))
    p0 = np.maximum(predict(images)[idx, classes], 1e-12)
    per = {name: predict(x)[idx, classes] for name, x in perturbations(images, input_range).items()}
    ratios = np.stack([np.minimum(1.0, p / p0) for p in per.values()])
    return ratios.mean(axis=0), per


# --------------------------------------------------------------------------- signals
def alignment_rank(images: np.ndarray, targets: np.ndarray, class_means: np.ndarray) -> np.ndarray:
    """Per image: fraction of *other* classes whose reference mean correlates better than the target's (0 best, ~0.5 chance)."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True) + 1e-12
    means = class_means.reshape(len(class_means), -1).astype(np.float64)
    means = means - means.mean(axis=1, keepdims=True)
    means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-12
    corr = flat @ means.T
    valid = np.isfinite(corr).all(axis=0)
    own = corr[np.arange(len(images)), targets]
    better = ((corr > own[:, None]) & valid[None]).sum(axis=1)
    return better / max(1, valid.sum() - 1)


def ascent_delta(result, mask=None) -> np.ndarray:
    """What the ascent added: images minus their random starts (the images themselves if starts are unknown)."""
    images = result.images if mask is None else result.images[mask]
    if result.initial_images is None:
        return images
    start = result.initial_images if mask is None else result.initial_images[mask]
    return images - start


# --------------------------------------------------------------------------- main
def check(
    result: Any,
    model: Any = None,
    *,
    reference: Any = None,
    reference_labels: Any = None,
    min_confidence: float = D.MIN_CONFIDENCE,
    top_k: int = D.TOP_K,
    max_degeneracy: float = D.MAX_DEGENERACY,
    min_recall: float = D.MIN_RECALL,
    min_naturalness: float = D.MIN_NATURALNESS,
    stat_bounds: Mapping[str, Any] | None = None,
    verdict: bool = True,
    twin: bool = True,
    control: Any = None,
    decode: Callable | None = None,
    triggers: Any = False,
    timings: Any = None,
) -> Report | LayerReport:
    """Check a :class:`~amaxcheck.ascent.result.SynthesisResult` and return a :class:`~amaxcheck.verdict.report.Report`.

    A layer-mode result (``synthesize(model, layer=...)``) gets a
    :class:`~amaxcheck.verdict.unit_report.LayerReport` instead: per unit the
    activation reached against its baseline (on ``reference`` if given, else a
    mid-grey image), the image statistics (``stat_bounds`` apply) and restart
    agreement, and no class checks and no verdict (:mod:`amaxcheck.verdict.units`);
    the class thresholds, ``verdict``, ``twin``, ``control`` and ``decode`` do not apply.

    Parameters
    ----------
    result : SynthesisResult
        From :func:`amaxcheck.synthesize`.
    model : keras.Model, optional
        Defaults to the model the result was synthesized from, while it is alive.
    reference, reference_labels : array, optional
        Images in the model's raw input range ``(n, *input_shape)`` and their integer
        classes (a multi-label head also takes multi-hot ``(n, n_classes)`` labels),
        **held out from training**. With labels, held-out accuracy decides
        the verdict (a memorizer gets its own training images right); the images also
        anchor naturalness.
    min_confidence : float
        Target probability the best restart must reach (after clipping and 8-bit quantization).
        A binary head's class 1 is ``p`` and class 0 ``1 - p``; a multi-label head's
        target probability is its own sigmoid, whatever the other labels do.
    top_k : int
        The target must rank within the top ``k`` classes (skipped for a multi-label
        head: independent labels can all be present at once).
    max_degeneracy : float
        A class fails its ``degeneracy`` check above this value (0 = the ascent reaches
        certainty, 1 = no higher than the untrained twins reach).
    min_recall : float
        With labelled reference data: the fraction of each class's reference images
        the model must classify correctly. A class whose real examples are mostly
        missed while its ideal input is confident has been learned from something
        else -- a shortcut (see ``examples/shortcut``).
    min_naturalness : float
        A class fails its ``naturalness`` check below this value (default 0: reported, not enforced).
    stat_bounds : {name: (lo, hi) | "tukey" | "zscore"}, optional
        Bounds on :func:`amaxcheck.stats.image_stats` values of the best restart:
        explicit, e.g. ``{"total_variation": (None, 0.8)}`` (``None`` leaves a side open),
        or derived from the reference images' values of that statistic
        (``"tukey"``: Tukey fences, k = 1.5; ``"zscore"``: mean +- 3 sd).
    verdict : bool
        Decide ``healthy`` / ``degenerate`` / ``inconclusive`` (``Report.verdict``).
    twin : bool
        Measure against re-initialized twins (costs a few small ascents, cached per model
        and settings). Without them only held-out accuracy can decide.
    control : ControlEvidence, optional
        Precomputed :func:`amaxcheck.verdict.controls.learned_nothing_control` of this
        model and settings (default: computed here, cached).
    decode : callable, optional
        ``decode(probs[None], top=k)`` in the style of Keras' ``decode_predictions``,
        returning ``[[(id, name, p), ...]]``; names the runner-up classes.
    triggers : bool | TriggerSettings | TriggerReport
        Also look for a backdoor (``Report.triggers``): ``True`` (or settings) reverses
        the smallest trigger of every class on ``reference`` (Neural Cleanse, see
        :func:`amaxcheck.reverse_triggers`; needs ``reference``, labels optional) and the
        report fails when one class is an outlier; a precomputed
        :class:`~amaxcheck.verdict.triggers.TriggerReport` is attached as is.
    timings : amaxcheck.timings.Timings, optional
        Counts the time spent here to its ``checks`` stage, building the control to ``controls``.
    """
    from ..timings import Timings

    timings = timings if timings is not None else Timings()
    if getattr(result, "mode", None) != "layer":  # bad trigger arguments fail before any work
        triggers = _trigger_request(triggers, result, model if model is not None else getattr(result, "model", None),
                                    reference)
    with timings.stage("checks"):
        return _check(result, model, reference=reference, reference_labels=reference_labels,
                      min_confidence=min_confidence, top_k=top_k, max_degeneracy=max_degeneracy, min_recall=min_recall,
                      min_naturalness=min_naturalness, stat_bounds=stat_bounds, verdict=verdict, twin=twin,
                      control=control, decode=decode, triggers=triggers, timings=timings)


def _check(result: Any, model: Any, *, reference: Any, reference_labels: Any, min_confidence: Any, top_k: Any,
           max_degeneracy: Any, min_recall: Any, min_naturalness: Any, stat_bounds: Mapping[str, Any] | None,
           verdict: bool, twin: bool, control: Any, decode: Callable | None, triggers: Any,
           timings: Any) -> Report | LayerReport:
    if getattr(result, "mode", None) == "layer":
        from .units import check_units

        return check_units(result, model, reference=reference, stat_bounds=stat_bounds)
    thresholds = _validated_thresholds(result, min_confidence, top_k, max_degeneracy, min_recall, min_naturalness,
                                       stat_bounds)
    model = model if model is not None else result.model
    evidence = _gather_evidence(result, model, reference, reference_labels, stat_bounds)
    notes: list[str] = []
    if verdict and twin and control is None and model is not None:
        with timings.stage("controls"):
            control = _control_for(result, model, notes)
    natural = _natural_reference(result, evidence)
    class_reports = [_class_report(result, evidence, j, c, thresholds, control, natural, decode)
                     for j, c in enumerate(result.class_indices)]
    decision = _decide(result, evidence, control, class_reports) if verdict else None
    report = _assemble_report(result, class_reports, thresholds, control, decision, notes)
    with timings.stage("triggers") if triggers else contextlib.nullcontext():  # a stage of its own, when run
        report.triggers = _trigger_report(triggers, result, model, reference, reference_labels)
    return report


def _trigger_request(triggers: Any, result: Any, model: Any, reference: Any) -> Any:
    """``check(triggers=...)`` validated before any work: None, a TriggerReport to attach, or TriggerSettings to run."""
    from ..ascent.triggers import TriggerSettings
    from .triggers import TriggerReport

    if triggers is False or triggers is None or isinstance(triggers, TriggerReport):
        return triggers or None
    if triggers is not True and not isinstance(triggers, TriggerSettings):
        raise ArgumentTypeError(f"triggers must be True, False, a TriggerSettings or a TriggerReport; got "
                                f"{type(triggers).__name__}")
    if model is None:
        from ..errors import ModelError

        raise ModelError("check(triggers=True) needs the model: pass check(result, model, triggers=True) (the "
                         "result no longer holds it)")
    if reference is None:
        raise ReferenceDataError("check(triggers=True) reverses each class's trigger on real images: pass "
                                 "reference=<images of shape (n, *input_shape) in the model's input range> "
                                 "(labels are optional), or drop triggers")
    return triggers if isinstance(triggers, TriggerSettings) else TriggerSettings(seed=result.settings["seed"])


def _trigger_report(request: Any, result: Any, model: Any, reference: Any, reference_labels: Any) -> Any:
    """The report of :func:`_trigger_request`'s answer: None, the given report, or the judged (cached) reversal."""
    from ..ascent.config import AscentConfig
    from ..ascent.triggers import TriggerSettings, cached_reverse_triggers
    from .triggers import judge_triggers

    if not isinstance(request, TriggerSettings):
        return request
    reversed_ = cached_reverse_triggers(model, reference, reference_labels=reference_labels, settings=request,
                                        config=result.config or AscentConfig(), labels=result.labels)
    return judge_triggers(reversed_)


@dataclass
class _Thresholds:
    min_confidence: float
    top_k: int
    max_degeneracy: float
    min_recall: float
    min_naturalness: float

    def as_dict(self) -> dict[str, Any]:
        return {"min_confidence": self.min_confidence, "top_k": self.top_k, "max_degeneracy": self.max_degeneracy,
                "min_recall": self.min_recall, "min_naturalness": self.min_naturalness}


def _validated_thresholds(result: Any, min_confidence: Any, top_k: Any, max_degeneracy: Any, min_recall: Any,
                          min_naturalness: Any, stat_bounds: Mapping[str, Any] | None) -> _Thresholds:
    from ..ascent.result import SynthesisResult

    if not isinstance(result, SynthesisResult):
        raise ArgumentTypeError(f"check() takes the SynthesisResult returned by amaxcheck.synthesize, got "
                                f"{type(result).__name__}")
    if not np.all(np.isfinite(result.images)):
        raise DataError("the result's images contain NaN/Inf; synthesize again (see AscentDivergedError for the cause)")
    known = S.SPATIAL_STATS + S.RANGE_STATS + ("restart_agreement", "robustness")
    unknown = set(stat_bounds or {}) - set(known)
    if unknown:
        raise ConfigError(f"unknown statistics in stat_bounds: {sorted(unknown)}; known: {sorted(known)}")
    return _Thresholds(V.probability(min_confidence, "min_confidence"),
                       V.integer(top_k, "top_k", 1, result.n_classes),
                       V.probability(max_degeneracy, "max_degeneracy"), V.probability(min_recall, "min_recall"),
                       V.probability(min_naturalness, "min_naturalness"))


@dataclass
class _Evidence:
    """What the real model says about the ideal inputs (and the reference images), shared by every class."""

    seen: np.ndarray  # the images as a deployed pipeline sees them (clipped, 8-bit for images)
    probs: np.ndarray  # real-model probabilities on ``seen``
    order: list[np.ndarray]  # sample indices of each class, in class_indices order
    best_idx: np.ndarray  # the best restart of each class
    predict: Callable[[np.ndarray], np.ndarray] | None
    ref_x: np.ndarray | None
    ref_y: np.ndarray | None
    bounds: dict[str, tuple[float | None, float | None]]
    recall: dict[int, tuple[int, int, int | None]] | None = None
    ref_pred: np.ndarray | None = None
    ref_probs: np.ndarray | None = None  # real-model probabilities on ref_x
    ref_hot: np.ndarray | None = None  # multi-label head: (n, n_classes) labels of 0/1
    retained: np.ndarray | None = None
    per_pert: dict[str, np.ndarray] | None = None
    is_img: bool = True


def _gather_evidence(result: Any, model: Any, reference: Any, reference_labels: Any,
                     stat_bounds: Mapping[str, Any] | None) -> _Evidence:
    rng_ = result.input_range
    ref_x, ref_y = (None, None)
    if reference is not None:
        ref_x, ref_y = validate_reference(reference, reference_labels, result.input_shape, rng_, result.n_classes,
                                          result.head)
    elif reference_labels is not None:
        raise ReferenceDataError("reference_labels were given without reference images; pass reference= too")
    bounds = _resolve_bounds(stat_bounds, reference, result)
    predict = _predictor(result, model)
    is_img = S.is_image(result.images[0])
    # Score what a deployed pipeline would see: clipped, and 8-bit quantized for images.
    seen = S.quantize(result.images, rng_) if is_img else np.clip(result.images, *rng_)
    probs = predict(seen) if predict is not None else result.probabilities
    order = [np.flatnonzero(result.classes == c) for c in result.class_indices]
    best_idx = np.array([idx[np.argmax(probs[idx, c])] for idx, c in zip(order, result.class_indices)])
    ev = _Evidence(seen, probs, order, best_idx, predict, ref_x, ref_y, bounds, is_img=is_img)
    if ref_x is not None and ref_y is not None and predict is not None:
        ev.ref_probs = predict(ref_x)
        if result.head == "multilabel":
            ev.ref_hot = multi_hot(ref_y, result.n_classes)
            ev.recall = multilabel_recall(ev.ref_probs, ev.ref_hot)
            ev.ref_y = ref_y if ref_y.ndim == 1 else None  # class means and targets need one class per image
        else:
            ev.ref_pred = ev.ref_probs.argmax(axis=1)
            ev.recall = reference_recall(ev.ref_pred, ref_y)
    if predict is not None:
        ev.retained, ev.per_pert = retained_confidence(predict, seen[best_idx], result.classes[best_idx], rng_)
    return ev


def _control_for(result: Any, model: Any, notes: list[str]) -> Any:
    """The cached learned-nothing control of ``model`` at the result's settings; None (and a note) if it cannot be built."""
    from ..ascent.config import AscentConfig
    from .controls import learned_nothing_control

    try:
        return learned_nothing_control(model, result.config or AscentConfig(), result.n_classes)
    except AmaxcheckError as exc:
        notes.append(f"no re-initialized control ({exc}); only held-out accuracy can decide the verdict")
        return None


@dataclass
class _Natural:
    """What natural images look like to the naturalness score: the reference images' values, or the defaults."""

    slope: float = N.NATURAL_SLOPE
    rms: float = N.TYPICAL_RMS_CONTRAST
    retained: float = 1.0
    align: np.ndarray | None = None  # per sample: alignment rank against labelled reference class means
    source: str = "natural-image priors (no reference images)"


def _natural_reference(result: Any, ev: _Evidence) -> _Natural:
    if ev.ref_x is None:
        return _Natural()
    sub = ev.ref_x[:256]
    nat = _Natural(source=f"reference images (n={len(ev.ref_x)})")
    if ev.is_img:
        units = [S.as_unit(im, result.input_range) for im in sub]
        nat.slope = float(np.nanmedian([S.spectral_slope(u) for u in units]))
        nat.rms = float(np.median([S.rms_contrast(im, result.input_range) for im in sub]))
    if ev.predict is not None:
        cls = ev.ref_y[:256] if ev.ref_y is not None else np.argmax(ev.predict(sub), axis=1)
        nat.retained = float(np.median(retained_confidence(ev.predict, sub, cls, result.input_range)[0]))
    if ev.ref_y is not None:
        means = np.stack([ev.ref_x[ev.ref_y == c].mean(0) if np.any(ev.ref_y == c) else np.zeros(ev.ref_x.shape[1:])
                          for c in range(result.n_classes)])
        nat.align = alignment_rank(ev.seen, result.classes, means)
    return nat


def _class_report(result: Any, ev: _Evidence, j: int, c: int, thr: _Thresholds, control: Any, natural: _Natural,
                  decode: Callable | None) -> ClassReport:
    idx, b = ev.order[j], int(ev.best_idx[j])
    p = ev.probs[b]
    conf = float(p[c])
    runner = float(np.max(np.delete(p, c))) if len(p) > 1 else 0.0
    ranked = np.argsort(-p, kind="stable")
    rank = int(np.flatnonzero(ranked == c)[0]) + 1
    top = [RankedClass(int(i), result.label_of(int(i)), float(p[i])) for i in ranked[:max(thr.top_k, 3)]]
    if decode is not None:
        top = _decoded(decode, p, max(thr.top_k, 3), top)
    st = S.image_stats(result.images[b], result.input_range)
    st["restart_agreement"] = S.restart_agreement(ascent_delta(result, idx))
    if ev.retained is not None:
        st["robustness"] = float(ev.retained[j])
    checks = _basic_checks(result, c, conf, runner, rank, top, thr)
    if ev.recall is not None:
        checks.append(_recall_check(ev.recall, int(c), thr.min_recall, result))
    checks += _stat_checks(st, ev.bounds)
    parts = _naturalness_parts(result, ev, j, b, natural)
    nat = N.naturalness(parts)
    if thr.min_naturalness > 0:
        checks.append(_naturalness_check(nat, thr.min_naturalness))
    signals: dict[str, float] = {"reach": float("nan"), **parts}
    degeneracy, degenerate, reasons = float("nan"), False, []
    if control is not None and float(np.max(control.reach)) >= G.SATURATED_FLOOR:
        floor = float(np.max(control.reach))
        checks.append(CheckResult(
            "degeneracy", SKIP, None, thr.max_degeneracy,
            f"not applicable: an untrained twin of this architecture already reaches p={floor:.2f}, so reaching "
            "confidence proves nothing (inputs on a large scale, e.g. raw 0..255 without Rescaling, saturate a "
            "fresh network's softmax)"))
    elif control is not None:
        floor = float(np.max(control.reach))
        degeneracy = class_degeneracy(conf, floor)
        signals["reach"] = degeneracy
        degenerate = conf <= floor
        failed = degeneracy > thr.max_degeneracy
        if degenerate:
            reasons.append(f"the ascent raises this class no higher than untrained twins reach "
                           f"(p={conf:.2f}; untrained floor {floor:.2f})")
        checks.append(CheckResult(
            "degeneracy", FAIL if failed else PASS, degeneracy, thr.max_degeneracy,
            f"degeneracy {degeneracy:.2f} {'>' if failed else '<='} {thr.max_degeneracy:g}: best probability "
            f"{conf:.2f} against the untrained twins' floor {floor:.2f}"))
    return ClassReport(
        index=int(c), label=result.label_of(int(c)), confidence=conf, margin=conf - runner, top_k=top[:thr.top_k],
        in_top_k=rank <= thr.top_k, degeneracy=degeneracy, degenerate=degenerate, reasons=reasons,
        signals=signals, stats=st, checks=checks, image=result.images[b], naturalness=nat,
    )


def class_degeneracy(reach: float, floor: float) -> float:
    """How far a class's best probability falls from certainty back to the untrained floor, in ``[0, 1]``.

    ``1`` at or below ``floor`` (the re-initialized twins' best), ``0`` at ``p = 1``:
    ``clip((1 - reach) / (1 - floor), 0, 1)``.
    """
    if not (np.isfinite(reach) and np.isfinite(floor)):
        return float("nan")
    if reach <= floor or floor >= 1.0:
        return 1.0 if reach <= floor else 0.0
    return float(np.clip((1.0 - reach) / (1.0 - floor), 0.0, 1.0))


def _naturalness_parts(result: Any, ev: _Evidence, j: int, b: int, natural: _Natural) -> dict[str, float]:
    parts: dict[str, float] = {}
    if ev.is_img:
        image = result.images[b]
        parts["content"] = N.content_score(S.rms_contrast(image, result.input_range), natural.rms)
        parts["spectrum"] = N.spectrum_score(S.spectral_slope(S.as_unit(image, result.input_range)), natural.slope)
    if ev.retained is not None:
        parts["robustness"] = float(np.clip(ev.retained[j] / max(natural.retained, 1e-6), 0.0, 1.0))
    if natural.align is not None:
        parts["alignment"] = N.alignment_score(float(np.mean(natural.align[ev.order[j]])))
    return parts


def _naturalness_check(value: float, minimum: float) -> CheckResult:
    if not np.isfinite(value):
        return CheckResult("naturalness", SKIP, None, minimum, "naturalness is not defined for this input")
    ok = value >= minimum
    return CheckResult("naturalness", PASS if ok else FAIL, value, minimum,
                       f"naturalness {value:.2f} {'>=' if ok else '<'} {minimum:g}")


def _decide(result: Any, ev: _Evidence, control: Any, reports: list[ClassReport]) -> Decision:
    """The model-level signals and the decision over them."""
    signals = []
    if control is not None:
        signals.append(G.weights_at_initialization(control.weights, control.head))
        chance = 0.5 if result.head == "multilabel" else 1.0 / result.n_classes  # a label's own sigmoid at z = 0
        signals.append(G.reach(np.array([r.confidence for r in reports]), control.reach.ravel(), chance))
    if ev.ref_hot is not None and ev.ref_probs is not None:
        signals.append(G.multilabel_held_out_accuracy(ev.ref_probs, ev.ref_hot))
    elif ev.ref_pred is not None and ev.ref_y is not None:
        signals.append(G.held_out_accuracy(ev.ref_pred, ev.ref_y))
    return decide(signals)


def _basic_checks(result: Any, c: int, conf: float, runner: float, rank: int, top: list[RankedClass],
                  thr: _Thresholds) -> list[CheckResult]:
    """The confidence and top-k checks of one class."""
    other = top[1].label if top[0].index == c and len(top) > 1 else top[0].label
    passed = conf >= thr.min_confidence
    return [
        CheckResult("confidence", PASS if passed else FAIL, conf, thr.min_confidence,
                    f"target probability {conf:.3f} {'>=' if passed else '<'} {thr.min_confidence:g}"
                    f" (runner-up {other} {runner:.3f})"),
        CheckResult("top_k", SKIP, float(rank), thr.top_k,
                    "independent labels (multi-label head) may all be present at once, so the target's rank among "
                    f"them is not checked (ranked {rank} of {result.n_classes})")
        if result.head == "multilabel" else
        CheckResult("top_k", PASS if rank <= thr.top_k else FAIL, float(rank), thr.top_k,
                    f"target ranked {rank} of {result.n_classes}; top-{thr.top_k}: "
                    + ", ".join(f"{t.label} ({t.p:.2f})" for t in top[:thr.top_k])),
    ]


def _stat_checks(st: Mapping[str, float], bounds: Mapping[str, tuple[float | None, float | None]]
                 ) -> list[CheckResult]:
    out = []
    for name, (lo, hi) in bounds.items():
        v = st.get(name)
        if v is None or not np.isfinite(v):
            out.append(CheckResult(f"stat:{name}", SKIP, None, [lo, hi], f"{name} is not defined for this input"))
            continue
        ok = (lo is None or v >= lo) and (hi is None or v <= hi)
        out.append(CheckResult(f"stat:{name}", PASS if ok else FAIL, float(v), [lo, hi],
                               f"{name} = {v:.3g}, bounds [{'-inf' if lo is None else f'{lo:g}'}, "
                               f"{'inf' if hi is None else f'{hi:g}'}]"))
    return out


def _assemble_report(result: Any, class_reports: list[ClassReport], thr: _Thresholds, control: Any,
                     decision: Decision | None, notes: list[str]) -> Report:
    controls: dict[str, Any] = {"notes": notes}
    if control is not None:
        controls.update(control.summary())
    nats = [c.naturalness for c in class_reports if np.isfinite(c.naturalness)]
    return Report(
        classes=class_reports,
        degeneracy=float("nan") if decision is None else decision.degeneracy,
        degenerate=bool(decision is not None and decision.degenerate),
        reasons=[] if decision is None else list(decision.reasons),
        thresholds=thr.as_dict(), controls=controls, result=result,
        verdict=None if decision is None else decision.verdict,
        signals=[] if decision is None else [s.to_dict() for s in decision.signals],
        naturalness=float(np.median(nats)) if nats else float("nan"),
    )


def _resolve_bounds(stat_bounds, reference, result) -> dict[str, tuple[float | None, float | None]]:
    """Turn ``"tukey"`` / ``"zscore"`` entries into numbers from the reference images' statistics."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, spec in (stat_bounds or {}).items():
        if isinstance(spec, str):
            if spec not in ("tukey", "zscore"):
                raise ConfigError(f"stat_bounds[{name!r}] = {spec!r}: use (lo, hi), 'tukey' or 'zscore'")
            if reference is None:
                raise ReferenceDataError(f"stat_bounds[{name!r}] = {spec!r} derives bounds from reference images; pass reference=")
            x, _ = validate_reference(reference, None, result.input_shape, result.input_range, result.n_classes)
            values = np.array([S.image_stats(im, result.input_range).get(name, np.nan) for im in x[:256]])
            out[name] = S.tukey_fences(values) if spec == "tukey" else S.zscore_bounds(values)
        else:
            try:
                lo, hi = spec
            except (TypeError, ValueError):
                raise ConfigError(f"stat_bounds[{name!r}] must be (lo, hi), 'tukey' or 'zscore', got {spec!r}") from None
            out[name] = (lo, hi)
    return out


def reference_recall(predicted: np.ndarray, labels: np.ndarray) -> dict[int, tuple[int, int, int | None]]:
    """Per class: ``(correct, total, most frequent wrong prediction or None)`` over the reference images."""
    out = {}
    for c in np.unique(labels):
        pred = predicted[labels == c]
        wrong = pred[pred != c]
        out[int(c)] = (int(np.sum(pred == c)), len(pred),
                       int(np.bincount(wrong).argmax()) if len(wrong) else None)
    return out


def multilabel_recall(probabilities: np.ndarray, labels: np.ndarray) -> dict[int, tuple[int, int, int | None]]:
    """:func:`reference_recall` for a multi-label head: of the images showing label ``c``, how many get ``p_c >= 0.5``."""
    found = np.asarray(probabilities) >= 0.5
    y = np.asarray(labels).astype(bool)
    return {int(c): (int(np.sum(found[y[:, c], c])), int(y[:, c].sum()), None)
            for c in range(y.shape[1]) if y[:, c].any()}


def _recall_check(recall, c: int, min_recall: float, result) -> CheckResult:
    if c not in recall:
        return CheckResult("reference_recall", SKIP, None, min_recall, f"no reference images of class {result.label_of(c)}")
    correct, total, confused = recall[c]
    value = correct / total
    msg = f"the model recognizes {correct} of {total} reference images of this class ({value:.0%})"
    if confused is not None and value < min_recall:
        msg += f"; most of the rest are predicted as {result.label_of(confused)}"
    return CheckResult("reference_recall", PASS if value >= min_recall else FAIL, value, min_recall, msg)


# --------------------------------------------------------------------------- helpers
def _label(result, index: int) -> str:
    return result.label_of(index)


def _decoded(decode: Callable, p: np.ndarray, k: int, fallback: list[RankedClass]) -> list[RankedClass]:
    try:
        rows = decode(p[None], top=k)[0]
        names = [str(r[1]) if isinstance(r, (tuple, list)) and len(r) >= 2 else str(r) for r in rows]
    except Exception as exc:
        raise ConfigError(f"decode callable failed ({exc}); it must accept (probs[None], top=k) and return "
                         "[[(id, name, p), ...]] like keras.applications.*.decode_predictions") from exc
    return [RankedClass(r.index, names[i] if i < len(names) else r.label, r.p) for i, r in enumerate(fallback)]


def _predictor(result, model) -> Callable[[np.ndarray], np.ndarray] | None:
    """Real-model probabilities for arrays of inputs (None when no model is known)."""
    if model is None:
        return None
    from ..ascent.config import AscentConfig
    from ..ascent.engine import adapter_for

    return adapter_for(model, result.config if result.config is not None else AscentConfig()).probabilities
