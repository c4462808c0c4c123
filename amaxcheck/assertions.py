"""Assertion helpers for tests: ``assert_confident``, ``assert_in_top_k``, ``assert_stats_within``, ``assert_not_degenerate``.

Each helper takes a :class:`~amaxcheck.result.SynthesisResult` (or a
:class:`~amaxcheck.report.Report`), runs :func:`amaxcheck.check` and raises
:class:`AssertionError` listing *every* failing class with its label, value,
threshold, the verdict's reasons and where its image was saved, so a CI log
is enough to act on::

    result = amaxcheck.synthesize(model, classes="all")
    amaxcheck.assert_confident(result, min_p=0.9)
    amaxcheck.assert_not_degenerate(result)

Where images go
---------------
Under pytest with the amaxcheck plugin, each test gets an artifact folder and
a failing helper writes the PNGs, the labelled grid, the ``.npz`` arrays and
``summary.json`` there (``--amax-artifacts``/``--amax-artifacts-dir``).
Without pytest, pass ``artifacts_dir=`` to a helper, or wrap the calls in
:func:`artifacts_to`. Where artifacts go is :mod:`amaxcheck.output.scope`'s
business (:class:`ArtifactScope`, :func:`current_scope`, :func:`artifacts_to`
are re-exported here).

This module imports no TensorFlow (the pytest plugin imports it at load).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ArgumentTypeError, ConfigError, UnknownNameError
from .output.scope import ARTIFACT_MODES, MARKER_FILE, ArtifactScope, artifacts_to, current_scope

__all__ = [
    "ARTIFACT_MODES",
    "MARKER_FILE",
    "ArtifactScope",
    "artifacts_to",
    "assert_confident",
    "assert_in_top_k",
    "assert_no_trigger",
    "assert_not_degenerate",
    "assert_stats_within",
    "current_scope",
]


# --------------------------------------------------------------------------- obtaining a report
def _is_report(obj: Any) -> bool:
    return hasattr(obj, "classes") and hasattr(obj, "failed_classes") and hasattr(obj, "thresholds")


def _report_for(subject: Any, scope: ArtifactScope | None, reuse: Callable[[Any], bool],
                check_kwargs: Mapping[str, Any], helper: str) -> Any:
    """A report holding the checks ``helper`` needs: ``subject`` itself if it is a report that ``reuse``
    accepts (same thresholds), else ``amaxcheck.check`` on the result."""
    if _is_report(subject):
        if reuse(subject):
            return subject
        result = subject.result
        if result is None:
            raise ConfigError(
                f"{helper}: this Report was made with other thresholds and holds no SynthesisResult to re-check; "
                "pass the SynthesisResult instead, or a Report made with the same thresholds"
            )
    else:
        result = subject
    if getattr(subject, "mode", None) == "layer" or getattr(result, "mode", None) == "layer":
        raise ConfigError(
            f"{helper} checks classes, and this is a layer visualization (units of layer "
            f"{getattr(subject, 'layer', None)!r}), which has none; use amaxcheck.check(result) and its LayerReport "
            "(report.passed, report.units)"
        )
    from .ascent.result import SynthesisResult

    if not isinstance(result, SynthesisResult):
        raise ArgumentTypeError(
            f"{helper} takes the SynthesisResult returned by amaxcheck.synthesize (or a Report from amaxcheck.check), "
            f"got {type(subject).__module__}.{type(subject).__name__}"
        )
    kwargs = {k: v for k, v in check_kwargs.items() if v is not None or k == "stat_bounds"}
    if scope is not None:
        return scope.run_check(result, **kwargs)
    from . import check
    return check(result, **kwargs)


def _check_matches(report: Any, name: str, threshold: Any) -> bool:
    """Every class of ``report`` ran check ``name`` (not skipped) with ``threshold``."""
    for cr in report.classes:
        try:
            c = cr.check(name)
        except UnknownNameError:
            return False
        if c.status == "skip" or not _same(c.threshold, threshold):
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is None and b is None
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    except (TypeError, ValueError):
        return a == b


# --------------------------------------------------------------------------- messages
def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (list, tuple)):
        lo, hi = (list(value) + [None, None])[:2]
        return f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if f.is_integer() and abs(f) < 1e9:
        return str(int(f))
    return f"{f:.4g}" if abs(f) < 1e-3 or abs(f) >= 1e4 else f"{f:.4f}".rstrip("0").rstrip(".")


def _class_name(cr: Any) -> str:
    return f"class {cr.index}" if cr.label == str(cr.index) else f"class {cr.index} {cr.label!r}"


def _describe_model(report: Any) -> str:
    r = report.result
    if r is None:
        return ""
    s = r.settings
    return (f"model {r.model_name} (fingerprint {r.model_fingerprint[:12]}), seed {s.get('seed')}, "
            f"steps {s.get('steps')}, restarts {s.get('restarts')}")


def failure_message(report: Any, helper: str, failing: Sequence[tuple[Any, list[Any]]], extra: Sequence[str] = (),
                    folder: Path | None = None, save_error: str | None = None) -> str:
    """The text of a helper's AssertionError: one block per failing class, then where to look."""
    n = len(report.classes)
    names = sorted({c.name for _, checks in failing for c in checks})
    if failing:
        head = (f"{helper}: {len(failing)} of {n} class{'es' if n != 1 else ''} failed "
                + ", ".join(repr(x) for x in names))
    else:
        head = f"{helper}: the model-level verdict failed"
    lines = [head]
    for cr, checks in failing:
        for c in checks:
            message = c.message
            if cr.reasons and all(r in message for r in cr.reasons):  # reasons get their own lines below
                message = message.split(": " + cr.reasons[0], 1)[0]
            lines.append(f"  - {_class_name(cr)}: {c.name} = {_fmt(c.value)}, threshold {_fmt(c.threshold)} "
                         f"-- {message}")
        for reason in cr.reasons:  # the verdict's plain-word reasons, one per line
            lines.append(f"      reason: {reason}")
        if cr.image_path:
            lines.append(f"      image: {cr.image_path}")
    lines.extend(extra)
    if folder is not None:
        lines.append(f"  artifacts: {folder} (grid.png, one PNG per class, ideal_inputs.npz, summary.json)")
    elif save_error:
        lines.append(f"  artifacts: {save_error}")
    else:
        lines.append("  artifacts: not saved (run under pytest with the amaxcheck plugin, or pass artifacts_dir=...)")
    described = _describe_model(report)
    if described:
        lines.append(f"  {described}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the core
def _fail_if(report: Any, helper: str, select: Callable[[Any], bool], artifacts_dir: str | Path | None,
             scope: ArtifactScope | None, extra: Callable[[Any], list[str]] = lambda r: []) -> Any:
    """Raise AssertionError when a check chosen by ``select`` failed (or ``extra`` has lines); return the report."""
    __tracebackhide__ = True
    if scope is not None:
        scope.track(report.result, report)
    failing = [(cr, [c for c in cr.checks if c.failed and select(c)]) for cr in report.classes]
    failing = [(cr, checks) for cr, checks in failing if checks]
    extra_lines = extra(report)
    if not failing and not extra_lines:
        return report
    saver = ArtifactScope(Path(artifacts_dir), mode="always") if artifacts_dir is not None else scope
    folder, error = (None, None)
    if saver is not None and report.result is not None:
        folder, error = saver.save(report)
        if saver is not scope and scope is not None:
            scope.track(report.result, report)
    raise AssertionError(failure_message(report, helper, failing, extra_lines, folder, error))


def assert_confident(result: Any, min_p: float = 0.9, *, artifacts_dir: str | Path | None = None,
                     **check_kwargs: Any) -> Any:
    """Every class's best ideal input reaches target probability ``min_p`` (check ``"confidence"``).

    Cheap: runs :func:`amaxcheck.check` with ``verdict=False``. ``check_kwargs``
    (e.g. ``model=``) are passed on. Returns the :class:`~amaxcheck.report.Report`.
    """
    __tracebackhide__ = True
    scope = current_scope()
    kwargs = {"verdict": False, **check_kwargs, "min_confidence": float(min_p)}
    report = _report_for(result, scope, lambda r: not check_kwargs and _check_matches(r, "confidence", min_p),
                         kwargs, "assert_confident")
    return _fail_if(report, "assert_confident", lambda c: c.name == "confidence", artifacts_dir, scope)


def assert_in_top_k(result: Any, k: int = 1, *, artifacts_dir: str | Path | None = None,
                    **check_kwargs: Any) -> Any:
    """Every class ranks within the model's top ``k`` on its own ideal input (check ``"top_k"``). Cheap."""
    __tracebackhide__ = True
    scope = current_scope()
    kwargs = {"verdict": False, **check_kwargs, "top_k": k}
    report = _report_for(result, scope, lambda r: not check_kwargs and _check_matches(r, "top_k", k),
                         kwargs, "assert_in_top_k")
    return _fail_if(report, "assert_in_top_k", lambda c: c.name == "top_k", artifacts_dir, scope)


def assert_stats_within(result: Any, bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
                        *, artifacts_dir: str | Path | None = None, check_kwargs: Mapping[str, Any] | None = None,
                        **named_bounds: tuple[float | None, float | None]) -> Any:
    """Image statistics of every class's best ideal input lie within bounds (checks ``"stat:<name>"``).

    Bounds are ``(lo, hi)`` with ``None`` for an open side, given as a dict or by name::

        amaxcheck.assert_stats_within(result, saturation=(None, 0.2), spectral_slope=(-4, -1))

    Statistic names are those of :func:`amaxcheck.stats.image_stats`. Cheap (``verdict=False``).
    """
    __tracebackhide__ = True
    merged = {**(bounds or {}), **named_bounds}
    if not merged:
        raise ConfigError("assert_stats_within needs at least one bound, e.g. saturation=(None, 0.2)")
    merged = {name: _bound_pair(name, b) for name, b in merged.items()}
    scope = current_scope()
    kwargs = {"verdict": False, **(check_kwargs or {}), "stat_bounds": merged}
    wanted = {f"stat:{name}" for name in merged}
    report = _report_for(result, scope,
                         lambda r: not check_kwargs and all(_check_matches(r, f"stat:{n}", list(b)) for n, b in merged.items()),
                         kwargs, "assert_stats_within")
    return _fail_if(report, "assert_stats_within", lambda c: c.name in wanted, artifacts_dir, scope)


def _bound_pair(name: str, bound: Any) -> tuple[float | None, float | None]:
    try:
        lo, hi = bound
    except (TypeError, ValueError):
        raise ConfigError(f"bound for {name!r} must be a pair (lo, hi) with None for an open side, got {bound!r}") from None
    return (None if lo is None else float(lo), None if hi is None else float(hi))


def assert_not_degenerate(result: Any, max_degeneracy: float = 0.5, *, reference: Any = None,
                          reference_labels: Any = None, strict: bool = False,
                          artifacts_dir: str | Path | None = None, **check_kwargs: Any) -> Any:
    """The model's verdict is not ``degenerate`` and no class sits at the untrained floor (check ``"degeneracy"``).

    Runs the full verdict (re-initialized twins, a few small ascents cached per model
    and settings). Labelled ``reference``/``reference_labels`` images held out from
    training let the verdict test learning directly; without them a trained model
    is usually ``inconclusive``, which passes unless ``strict=True``.
    """
    __tracebackhide__ = True
    return _threshold_assertion(result, "assert_not_degenerate", "degeneracy", "max_degeneracy", max_degeneracy,
                                {"verdict": True, **check_kwargs}, reference, reference_labels, artifacts_dir,
                                extra=lambda r: _model_verdict_lines(r, strict))


def assert_naturalness(result: Any, min_naturalness: float = 0.5, *, reference: Any = None,
                       reference_labels: Any = None, artifacts_dir: str | Path | None = None,
                       **check_kwargs: Any) -> Any:
    """Every class's ideal input has naturalness ``>= min_naturalness`` (check ``"naturalness"``).

    Naturalness (:mod:`amaxcheck.verdict.naturalness`) grades how natural, smooth and
    transformation-robust the ideal inputs are; reference images anchor it on your
    data. Cheap: no verdict controls are synthesized.
    """
    __tracebackhide__ = True
    return _threshold_assertion(result, "assert_naturalness", "naturalness", "min_naturalness", min_naturalness,
                                {"verdict": False, **check_kwargs}, reference, reference_labels, artifacts_dir)


def assert_no_trigger(result: Any, reference: Any = None, *, reference_labels: Any = None, settings: Any = None,
                      strict: bool = False, artifacts_dir: str | Path | None = None, **check_kwargs: Any) -> Any:
    """No class is reachable by a far smaller stamp than the others: no backdoor trigger is suspected.

    Reverses every class's smallest trigger on ``reference`` (real images in the
    model's input range; labels optional) in the style of Neural Cleanse
    (:func:`amaxcheck.reverse_triggers`, cached per model, settings and data) and
    fails when one class is an outlier (:mod:`amaxcheck.verdict.triggers`).
    ``result`` is a SynthesisResult, or a Report made with ``check(..., triggers=True)``
    (then ``reference`` may be omitted). An ``inconclusive`` trigger check (fewer than
    6 classes, or reversals that did not converge) passes unless ``strict=True``.
    ``settings``: a :class:`~amaxcheck.ascent.triggers.TriggerSettings`.
    Returns the :class:`~amaxcheck.verdict.report.Report` (``report.triggers``).
    """
    __tracebackhide__ = True
    scope = current_scope()
    kwargs = {"verdict": False, **check_kwargs, "triggers": True if settings is None else settings,
              "reference": reference, "reference_labels": reference_labels}
    reuse = lambda r: getattr(r, "triggers", None) is not None and reference is None and settings is None
    report = _report_for(result, scope, reuse, kwargs, "assert_no_trigger")
    return _fail_if(report, "assert_no_trigger", lambda c: False, artifacts_dir, scope,
                    extra=lambda r: _trigger_lines(r, strict))


def _trigger_lines(report: Any, strict: bool) -> list[str]:
    """Lines for a suspected trigger (or an inconclusive trigger check under ``strict``)."""
    trig = report.triggers
    if trig is None or not (trig.suspected_trigger or (strict and trig.outcome == "inconclusive")):
        return []
    flagged = ", ".join(f"class {c.index}" + ("" if c.label == str(c.index) else f" {c.label!r}")
                        for c in trig.flagged)
    lines = [f"  model: trigger check {trig.outcome.upper()}" + (f" ({flagged})" if flagged else " (strict)")]
    lines += [f"      reason: {reason}" for reason in trig.reasons]
    lines += [f"      note: {note}" for note in trig.notes]
    lines += [f"      trigger image: {c.image}" for c in trig.flagged if c.image]
    return lines


def _threshold_assertion(result: Any, helper: str, check: str, option: str, threshold: float,
                         kwargs: dict[str, Any], reference: Any, reference_labels: Any,
                         artifacts_dir: str | Path | None, extra: Callable[[Any], list[str]] = lambda r: []) -> Any:
    """Check ``result`` with ``option=threshold`` (reusing a report made with the same one) and fail on ``check``."""
    __tracebackhide__ = True
    scope = current_scope()
    plain = set(kwargs) <= {"verdict"}
    kwargs = {**kwargs, option: float(threshold), "reference": reference, "reference_labels": reference_labels}
    reuse = lambda r: (plain and reference is None and reference_labels is None
                       and _check_matches(r, check, threshold))
    report = _report_for(result, scope, reuse, kwargs, helper)
    return _fail_if(report, helper, lambda c: c.name == check, artifacts_dir, scope, extra=extra)


def _model_verdict_lines(report: Any, strict: bool = False) -> list[str]:
    """Lines for the model-level verdict when it is degenerate (or inconclusive under ``strict``)."""
    if not (report.degenerate or (strict and report.inconclusive)):
        return []
    lines = [f"  model: verdict {str(report.verdict).upper()}" + (" (strict)" if not report.degenerate else "")]
    lines += [f"      reason: {reason}" for reason in report.reasons]
    return lines
