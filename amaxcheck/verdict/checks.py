"""Checks on synthesized ideal inputs and the "degenerate noise" verdict.

:func:`check` scores each class's ideal inputs with the real model and with
pure statistics (:mod:`amaxcheck.stats`), then places them between two
controls:

* a **natural anchor** -- the user's reference images when given; without
  them (weaker, documented) a class must move significantly *and*
  substantially from the noise anchor towards a perfectly smooth image
  (see :func:`_distinct_from`);
* a **noise anchor** -- the ideal inputs of the model's *shuffled-weights twin*
  (same architecture and weight statistics, learning destroyed) synthesized
  with the same settings; white noise when no twin can be built.

Each signal becomes a degeneracy in ``[0, 1]`` (0 = at the natural anchor,
1 = at or beyond the noise anchor); a class's degeneracy is their mean, the
model's is the mean over classes. See the README for the signal list.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _cache
from .. import _validate as V
from .. import defaults as D
from ..errors import AmaxcheckError, ArgumentTypeError, ConfigError, DataError, ReferenceDataError
from . import stats as S
from .report import FAIL, PASS, SKIP, CheckResult, ClassReport, RankedClass, Report

#: signals entering the verdict, in report order
SIGNALS = ("spectrum", "smoothness", "alignment", "reach", "robustness")
#: model-level reason per signal, said of the classes where the signal reaches ``max_degeneracy``
_MODEL_REASON = {
    "spectrum": "high-frequency energy close to the noise control's ideal inputs",
    "smoothness": "neighbouring pixels correlate about as little as in the noise control's ideal inputs",
    "alignment": "the ideal input looks more like other classes' reference images than its own",
    "reach": "the ascent cannot raise the class much above chance",
    "robustness": "confidence collapses under a mild blur, shift or rescale",
}


# --------------------------------------------------------------------------- validation
def validate_reference(reference: Any, reference_labels: Any, input_shape: Sequence[int],
                       input_range: Sequence[float], n_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Check reference images/labels against the model; return them as float32 / int64 arrays."""
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
    y = None
    if reference_labels is not None:
        y = np.asarray(reference_labels)
        if y.ndim != 1 or len(y) != len(x):
            raise ReferenceDataError(
                f"reference labels have shape {y.shape} but there are {len(x)} reference images; give one integer label per image"
            )
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        if y.dtype.kind not in "iu":
            raise ReferenceDataError(f"reference labels have dtype {y.dtype}; pass integer class indices")
        if y.min() < 0 or y.max() >= n_classes:
            raise ReferenceDataError(
                f"reference labels span {int(y.min())}..{int(y.max())} but the model has classes 0..{n_classes - 1}"
            )
        y = y.astype(np.int64)
    return x, y


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
def _between(value: float, natural: float, noise: float) -> float:
    """Position of ``value`` from the natural anchor (0) to the noise anchor (1), clipped; NaN if the anchors coincide."""
    span = noise - natural
    if not np.isfinite(value) or not np.isfinite(span) or abs(span) < 1e-6:
        return float("nan")
    return float(np.clip((value - natural) / span, 0.0, 1.0))


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


@dataclass
class _Anchors:
    natural_name: str
    noise_name: str
    natural: dict[str, float]
    noise: dict[str, float]
    retained_natural: float
    notes: list[str]
    has_reference: bool = False


def _structure_stats(images: np.ndarray) -> list[dict[str, float]]:
    """Range-free structure statistics (spectrum, pixel correlation) of each image."""
    return [{"high_frequency_ratio": S.high_frequency_ratio(im), "autocorrelation": S.autocorrelation(im)} for im in images]


def _median_stats(images: np.ndarray) -> dict[str, float]:
    """Median of each structure statistic, and its robust spread as ``<name>_sd`` (1.4826 x MAD)."""
    rows = _structure_stats(images)
    out = {}
    for k in rows[0]:
        v = np.array([r[k] for r in rows], np.float64)
        med = float(np.nanmedian(v))
        out[k] = med
        out[f"{k}_sd"] = float(1.4826 * np.nanmedian(np.abs(v - med)))
    return out


#: without reference data, a class must lie this many noise-control spreads (robust sd) from the control to
#: count as distinct from it: about the conventional two-sided 95% level (significant) ...
DISTINCT_Z = 2.0
#: ... and it must also have removed at least this share of the control's distance from the structural
#: extreme (a perfectly smooth image: no high-frequency power, neighbours fully correlated): substantial
DISTINCT_SHARE = 0.5
#: the structural extreme of each structure statistic, the healthy end of its scale
SMOOTH_EXTREME = {"high_frequency_ratio": 0.0, "autocorrelation": 1.0}


def _distinct_from(value: float, noise: float, noise_sd: float, extreme: float) -> float:
    """Degeneracy of ``value`` when no natural anchor is known: how indistinct it is from the noise control.

    The move from the control towards ``extreme`` must be both *significant*
    (``DISTINCT_Z`` control spreads) and *substantial* (``DISTINCT_SHARE`` of the
    control's distance to ``extreme``); the weaker of the two decides. 0 = clearly
    distinct on both counts, 1 = at (or beyond) the control's median.
    A significance test alone would call a memorizing model that is only slightly
    smoother than its twin healthy whenever the twin's spread happens to be small.
    """
    if not (np.isfinite(value) and np.isfinite(noise)):
        return float("nan")
    span = abs(extreme - noise)
    if span < 1e-6:
        return float("nan")
    moved = (value - noise) * np.sign(extreme - noise)  # > 0 towards the healthy end
    sd = max(noise_sd, 1e-3) if np.isfinite(noise_sd) else 1e-3
    distinct = min(moved / (DISTINCT_Z * sd), moved / (DISTINCT_SHARE * span))
    return float(np.clip(1.0 - distinct, 0.0, 1.0))


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
    stat_bounds: Mapping[str, Any] | None = None,
    verdict: bool = True,
    twin: bool = True,
    decode: Callable | None = None,
) -> Report:
    """Check a :class:`~amaxcheck.ascent.result.SynthesisResult` and return a :class:`~amaxcheck.verdict.report.Report`.

    Parameters
    ----------
    result : SynthesisResult
        From :func:`amaxcheck.synthesize`.
    model : keras.Model, optional
        Defaults to the model the result was synthesized from, while it is alive.
    reference, reference_labels : array, optional
        Images in the model's raw input range ``(n, *input_shape)`` and their integer
        classes. They anchor "natural" and enable the alignment signal.
    min_confidence : float
        Target probability the best restart must reach (after clipping and 8-bit quantization).
    top_k : int
        The target must rank within the top ``k`` classes.
    max_degeneracy : float
        A class (and the model) is degenerate above this value; a signal at or above it gets a reason.
    min_recall : float
        With labelled reference data: the fraction of each class's reference images
        the model must classify correctly. A class whose real examples are mostly
        missed while its ideal input is confident has been learned from something
        else -- a shortcut (see ``examples/shortcut``).
    stat_bounds : {name: (lo, hi) | "tukey" | "zscore"}, optional
        Bounds on :func:`amaxcheck.stats.image_stats` values of the best restart:
        explicit, e.g. ``{"total_variation": (None, 0.8)}`` (``None`` leaves a side open),
        or derived from the reference images' values of that statistic
        (``"tukey"``: Tukey fences, k = 1.5; ``"zscore"``: mean +- 3 sd).
    verdict : bool
        Compute the degeneracy verdict (synthesizes the twin control: costs one more ascent, cached).
    twin : bool
        Use the shuffled-weights twin as noise anchor (else white noise).
    decode : callable, optional
        ``decode(probs[None], top=k)`` in the style of Keras' ``decode_predictions``,
        returning ``[[(id, name, p), ...]]``; names the runner-up classes.
    """
    thresholds = _validated_thresholds(result, min_confidence, top_k, max_degeneracy, min_recall, stat_bounds)
    model = model if model is not None else result.model
    evidence = _gather_evidence(result, model, reference, reference_labels, stat_bounds)
    anchors, align = (_verdict_inputs(result, model, evidence, twin) if verdict else (None, None))
    class_reports = [_class_report(result, evidence, j, c, thresholds, anchors, align, decode)
                     for j, c in enumerate(result.class_indices)]
    return _assemble_report(result, class_reports, thresholds, anchors)


@dataclass
class _Thresholds:
    min_confidence: float
    top_k: int
    max_degeneracy: float
    min_recall: float

    def as_dict(self) -> dict[str, Any]:
        return {"min_confidence": self.min_confidence, "top_k": self.top_k,
                "max_degeneracy": self.max_degeneracy, "min_recall": self.min_recall}


def _validated_thresholds(result: Any, min_confidence: Any, top_k: Any, max_degeneracy: Any, min_recall: Any,
                          stat_bounds: Mapping[str, Any] | None) -> _Thresholds:
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
                       V.probability(max_degeneracy, "max_degeneracy"), V.probability(min_recall, "min_recall"))


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
    retained: np.ndarray | None = None
    per_pert: dict[str, np.ndarray] | None = None
    is_img: bool = True


def _gather_evidence(result: Any, model: Any, reference: Any, reference_labels: Any,
                     stat_bounds: Mapping[str, Any] | None) -> _Evidence:
    rng_ = result.input_range
    ref_x, ref_y = (None, None)
    if reference is not None:
        ref_x, ref_y = validate_reference(reference, reference_labels, result.input_shape, rng_, result.n_classes)
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
        ev.recall = reference_recall(predict(ref_x).argmax(axis=1), ref_y)
    if predict is not None:
        ev.retained, ev.per_pert = retained_confidence(predict, seen[best_idx], result.classes[best_idx], rng_)
    return ev


def _verdict_inputs(result: Any, model: Any, ev: _Evidence, use_twin: bool) -> tuple[_Anchors, np.ndarray | None]:
    """The anchors of the verdict and, with labelled reference data, each sample's alignment rank."""
    anchors = _anchors(result, model, ev.ref_x, ev.ref_y, ev.predict, use_twin)
    if ev.ref_x is None or ev.ref_y is None:
        return anchors, None
    ref_x, ref_y = ev.ref_x, ev.ref_y
    class_means = np.stack([ref_x[ref_y == c].mean(0) if np.any(ref_y == c) else np.full(ref_x.shape[1:], np.nan)
                            for c in range(result.n_classes)])
    return anchors, alignment_rank(ev.seen, result.classes, np.nan_to_num(class_means, nan=0.0))


def _class_report(result: Any, ev: _Evidence, j: int, c: int, thr: _Thresholds, anchors: _Anchors | None,
                  align: np.ndarray | None, decode: Callable | None) -> ClassReport:
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
    st["restart_agreement"] = S.restart_agreement(result.images[idx])
    if ev.retained is not None:
        st["robustness"] = float(ev.retained[j])
    checks = _basic_checks(result, c, conf, runner, rank, top, thr)
    if ev.recall is not None:
        checks.append(_recall_check(ev.recall, int(c), thr.min_recall, result))
    checks += _stat_checks(st, ev.bounds)
    signals, reasons, degeneracy, degenerate = {}, [], float("nan"), False
    if anchors is not None:
        signals, reasons = _class_signals(
            result, idx, c, conf, anchors, None if align is None else align[idx],
            None if ev.retained is None else float(ev.retained[j]),
            {k: float(v[j]) for k, v in (ev.per_pert or {}).items()}, ev.is_img, thr.max_degeneracy)
        degeneracy = combine_signals(signals)
        degenerate = bool(np.isfinite(degeneracy) and degeneracy > thr.max_degeneracy)
        checks.append(CheckResult(
            "degeneracy", FAIL if degenerate else PASS, degeneracy, thr.max_degeneracy,
            f"degeneracy {degeneracy:.2f} {'>' if degenerate else '<='} {thr.max_degeneracy:g}"
            + (": " + "; ".join(reasons) if reasons else "")))
    return ClassReport(
        index=int(c), label=result.label_of(int(c)), confidence=conf, margin=conf - runner, top_k=top[:thr.top_k],
        in_top_k=rank <= thr.top_k, degeneracy=degeneracy, degenerate=degenerate, reasons=reasons,
        signals=signals, stats=st, checks=checks, image=result.images[b],
    )


def _basic_checks(result: Any, c: int, conf: float, runner: float, rank: int, top: list[RankedClass],
                  thr: _Thresholds) -> list[CheckResult]:
    """The confidence and top-k checks of one class."""
    other = top[1].label if top[0].index == c and len(top) > 1 else top[0].label
    passed = conf >= thr.min_confidence
    return [
        CheckResult("confidence", PASS if passed else FAIL, conf, thr.min_confidence,
                    f"target probability {conf:.3f} {'>=' if passed else '<'} {thr.min_confidence:g}"
                    f" (runner-up {other} {runner:.3f})"),
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


def _assemble_report(result: Any, class_reports: list[ClassReport], thr: _Thresholds,
                     anchors: _Anchors | None) -> Report:
    model_deg, model_degenerate, model_reasons = float("nan"), False, []
    controls: dict[str, Any] = {}
    if anchors is not None:
        model_deg = float(np.nanmean([c.degeneracy for c in class_reports])) if class_reports else float("nan")
        model_degenerate = bool(np.isfinite(model_deg) and model_deg > thr.max_degeneracy)
        model_reasons = _model_reasons(class_reports, thr.max_degeneracy)
        controls = {"natural": anchors.natural_name, "noise": anchors.noise_name,
                    "natural_stats": anchors.natural, "noise_stats": anchors.noise,
                    "natural_robustness": anchors.retained_natural, "notes": anchors.notes}
    return Report(classes=class_reports, degeneracy=model_deg, degenerate=model_degenerate, reasons=model_reasons,
                  thresholds=thr.as_dict(), controls=controls, result=result)


def combine_signals(signals: Mapping[str, float]) -> float:
    """Class degeneracy from its signals.

    Resemblance signals (spectrum, smoothness, alignment) say how close the ideal
    input sits to the noise control on each axis and are averaged. One-sided
    signals (reach, robustness) can only *raise* the result: failing to reach
    confidence, or losing it under blur, is evidence of degeneracy, but reaching
    p = 1 proves nothing (untrained networks do). NaN signals are ignored.
    """
    two = [signals[k] for k in ("spectrum", "smoothness", "alignment") if np.isfinite(signals.get(k, np.nan))]
    one = [signals[k] for k in ("reach", "robustness") if np.isfinite(signals.get(k, np.nan))]
    if not two and not one:
        return float("nan")
    return float(max(([float(np.mean(two))] if two else []) + one))


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


def _anchors(result, model, ref_x, ref_y, predict, use_twin: bool) -> _Anchors:
    rng_ = result.input_range
    shape = result.input_shape
    notes: list[str] = []
    is_img = S.is_image(result.images[0])
    if ref_x is not None:
        natural_name = f"reference images (n={len(ref_x)})"
        natural = _median_stats(ref_x[:256] - ref_x[:256].mean(axis=tuple(range(1, ref_x.ndim)), keepdims=True)) \
            if is_img else {}
        retained_nat = 1.0
        if predict is not None:
            sub = ref_x[:256]
            cls = ref_y[:256] if ref_y is not None else np.argmax(predict(sub), axis=1)
            r, _ = retained_confidence(predict, sub, cls, rng_)
            retained_nat = float(np.median(r))
    else:
        natural_name = "none (no reference data: distance from the noise control towards a smooth image, weaker)"
        natural = {}
        retained_nat = 1.0
        notes.append("no reference data: spectrum and smoothness count as distinct from the noise control only if "
                     f"they are both {DISTINCT_Z:g} of its spreads away and {DISTINCT_SHARE:.0%} of the way to a "
                     "perfectly smooth image; alignment is off")
    noise_name, noise = "white noise", None
    if use_twin and model is not None:
        try:
            noise, noise_name = _twin_stats(result, model)
        except AmaxcheckError as exc:
            notes.append(f"twin control unavailable ({exc}); using white noise")
    if noise is None:
        from .controls import white_noise

        noise = _median_stats(white_noise(shape, 32, rng_)) if is_img else {}
    return _Anchors(natural_name, noise_name, natural, noise, retained_nat, notes, ref_x is not None)


def _twin_stats(result, model) -> tuple[dict[str, float], str]:
    """Median statistics of the shuffled-weights twin's ideal inputs, synthesized with the result's settings.

    Cached in :data:`amaxcheck._cache.CONTROLS` by (weights, classes, settings): the key holds the config
    value itself, so two different objectives never share a control.
    """
    from ..ascent.config import AscentConfig
    from ..ascent.engine import synthesize
    from .controls import shuffled_twin

    config = result.config if result.config is not None else AscentConfig()
    config = config.replace(restarts=min(D.CONTROL_RESTARTS, config.restarts))
    key = ("twin",) + _cache.result_key(model, tuple(result.class_indices), None, config)

    def build() -> dict[str, float]:
        twin = shuffled_twin(model, seed=config.seed)
        tres = synthesize(twin, result.class_indices, config=config, progress=False)
        return _median_stats(ascent_delta(tres)) if S.is_image(tres.images[0]) else {}

    return _cache.CONTROLS.get_or_build(key, build), "shuffled-weights twin's ideal inputs"


def _class_signals(result, idx, c, conf, anchors: _Anchors, align, retained, per_pert, is_img, cut: float):
    """Per-signal degeneracy of one class and a reason for each signal at or above ``cut`` (max_degeneracy)."""
    signals: dict[str, float] = {}
    reasons: list[str] = []
    nat, noi = anchors.natural, anchors.noise
    if is_img and noi and (nat or not anchors.has_reference):
        rows = _structure_stats(ascent_delta(result, idx))
        hf = float(np.mean([r["high_frequency_ratio"] for r in rows]))
        ac = float(np.mean([r["autocorrelation"] for r in rows]))
        if anchors.has_reference:
            signals["spectrum"] = _between(hf, nat["high_frequency_ratio"], noi["high_frequency_ratio"])
            signals["smoothness"] = _between(-ac, -nat["autocorrelation"], -noi["autocorrelation"])
        else:
            signals["spectrum"] = _distinct_from(hf, noi["high_frequency_ratio"], noi["high_frequency_ratio_sd"],
                                                 SMOOTH_EXTREME["high_frequency_ratio"])
            signals["smoothness"] = _distinct_from(ac, noi["autocorrelation"], noi["autocorrelation_sd"],
                                                   SMOOTH_EXTREME["autocorrelation"])
        if signals["spectrum"] >= cut:
            reasons.append(f"spectrum close to the {anchors.noise_name}: {hf:.0%} of power at high frequencies "
                           f"({'natural ' + format(nat['high_frequency_ratio'], '.0%') + ', ' if nat else ''}"
                           f"noise control {noi['high_frequency_ratio']:.0%})")
        if signals["smoothness"] >= cut:
            reasons.append(f"neighbouring pixels barely correlate (lag-1 autocorrelation {ac:.2f}; "
                           f"{'natural ' + format(nat['autocorrelation'], '.2f') + ', ' if nat else ''}"
                           f"noise control {noi['autocorrelation']:.2f})")
    if align is not None:
        frac = float(np.mean(align))
        signals["alignment"] = float(np.clip(2.0 * frac, 0.0, 1.0))
        if signals["alignment"] >= cut:
            n = result.n_classes
            reasons.append(f"looks more like other classes' reference images than its own "
                           f"(own class ranked {1 + frac * (n - 1):.1f} of {n}; chance {1 + 0.5 * (n - 1):.1f})")
    chance = 1.0 / result.n_classes
    signals["reach"] = float(np.clip((0.5 - conf) / (0.5 - chance), 0.0, 1.0)) if chance < 0.5 else float("nan")
    if signals["reach"] >= cut:
        reasons.append(f"the ascent cannot raise the class much above chance (p={conf:.2f}, chance {chance:.2f})")
    if retained is not None:
        base = max(anchors.retained_natural, 1e-6)
        signals["robustness"] = float(np.clip(1.0 - retained / base, 0.0, 1.0))
        if signals["robustness"] >= cut and per_pert:
            worst = min(per_pert, key=per_pert.get)
            reasons.append(f"confidence collapses from {conf:.2f} to {per_pert[worst]:.2f} under {worst}")
    return signals, reasons


def _model_reasons(reports: list[ClassReport], cut: float) -> list[str]:
    """One line per signal that reaches ``cut`` (max_degeneracy) in at least half of the classes."""
    out = []
    n = len(reports)
    for name in SIGNALS:
        vals = [r.signals.get(name, float("nan")) for r in reports]
        bad = sum(1 for v in vals if np.isfinite(v) and v >= cut)
        if bad and bad >= n / 2:
            out.append(f"{bad} of {n} classes: {_MODEL_REASON[name]}")
    return out
