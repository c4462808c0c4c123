"""Baselines: catch drift of ideal inputs between model versions (pytest-regressions style).

A baseline is a small JSON file per test holding, for every class, the
statistics of its best ideal input, its confidence and degeneracy, and its
verdicts. A later run is compared against it:

* **numbers** (``confidence``, ``degeneracy`` and every statistic in
  ``ClassReport.stats``) match when ``|now - baseline| <= atol + rtol * |baseline|``
  (``numpy.isclose`` semantics). Defaults: ``rtol = 0.1``, ``atol = 0.02``;
  change them per call, or per quantity with ``tolerances={"entropy": {"atol": 0.5}}``.
  A value missing on both sides (NaN / ``null``) matches; missing on one side does not.
* **verdicts** (``degenerate``, ``in_top_k``, ``passed``) must be equal. A
  verdict absent from either side (e.g. a ``verdict=False`` report) is not compared.
* **classes** must be the same set.
* statistics that appear only in the new run (added by a newer amaxcheck) are ignored.

Semantics follow pytest-regressions: a missing baseline is written from this
run and the check *fails* (so a new baseline is never accepted silently:
review it and commit it); ``update=True`` (``--amax-update-baselines``)
rewrites the file and passes. Files are written atomically (temporary file +
rename), so an interrupted run never leaves a half-written baseline.

This module imports no TensorFlow.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from ..errors import BaselineError, ConfigError

__all__ = [
    "BASELINE_FORMAT",
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "BaselineOutcome",
    "assert_baseline",
    "baseline_data",
    "check_baseline",
    "compare",
    "load_baseline",
    "write_baseline",
]

#: version of the JSON layout below; files with another version are refused (rewrite them with the update flag)
BASELINE_FORMAT = 1
DEFAULT_RTOL = 0.1
DEFAULT_ATOL = 0.02
NUMBERS = ("confidence", "degeneracy", "naturalness")
VERDICTS = ("degenerate", "in_top_k", "passed")
UPDATE_HINT = "--amax-update-baselines"


# --------------------------------------------------------------------------- data
def _number(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def baseline_data(report: Any, test: str = "") -> dict[str, Any]:
    """The JSON-ready baseline of a :class:`~amaxcheck.report.Report`: per-class statistics and verdicts."""
    verdict_known = any(_number(c.degeneracy) is not None for c in report.classes)
    classes = {}
    for c in report.classes:
        classes[str(c.index)] = {
            "label": c.label,
            "confidence": _number(c.confidence),
            "degeneracy": _number(c.degeneracy),
            "degenerate": bool(c.degenerate) if verdict_known else None,
            "naturalness": _number(c.naturalness),
            "in_top_k": bool(c.in_top_k),
            "passed": bool(c.passed),
            "stats": {k: _number(v) for k, v in sorted(c.stats.items())},
        }
    r = report.result
    data: dict[str, Any] = {"amaxcheck_baseline": BASELINE_FORMAT, "test": test}
    if r is not None:
        s = r.settings
        data["model"] = {"name": r.model_name, "fingerprint": r.model_fingerprint}
        data["settings"] = {k: s.get(k) for k in ("classes", "steps", "restarts", "seed", "input_range", "objective",
                                                  "parameterization", "learning_rate")}
    data["classes"] = classes
    return data


def write_baseline(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` to ``path`` atomically (sorted keys, so diffs in review are small)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read and validate a baseline file; :class:`BaselineError` naming the file and the fix if it is corrupt."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _corrupt(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _corrupt(path, f"expected a JSON object, found {type(data).__name__}")
    if data.get("amaxcheck_baseline") != BASELINE_FORMAT:
        raise _corrupt(path, f"'amaxcheck_baseline' is {data.get('amaxcheck_baseline')!r}, expected {BASELINE_FORMAT}")
    classes = data.get("classes")
    if not isinstance(classes, dict) or not all(isinstance(v, dict) and isinstance(v.get("stats"), dict)
                                                for v in classes.values()):
        raise _corrupt(path, "'classes' must map class indices to objects with a 'stats' object")
    return data


def _corrupt(path: Path, why: str) -> BaselineError:
    return BaselineError(
        f"baseline file {path} is corrupt ({why}). Rewrite it from this run with {UPDATE_HINT} "
        "(or delete it to start over), then review and commit the new file"
    )


# --------------------------------------------------------------------------- comparison
def _tolerance(name: str, rtol: float, atol: float, tolerances: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    own = tolerances.get(name, {})
    unknown = set(own) - {"rtol", "atol"}
    if unknown:
        raise ConfigError(f"tolerances[{name!r}] has unknown keys {sorted(unknown)}; use 'rtol' and/or 'atol'")
    return float(own.get("rtol", rtol)), float(own.get("atol", atol))


def _compare_number(where: str, name: str, old: Any, new: Any, rtol: float, atol: float) -> str | None:
    a, b = _number(old), _number(new)
    if a is None and b is None:
        return None
    if a is None or b is None:
        return f"{where}: {name} {_show(a)} -> {_show(b)} (defined on one side only)"
    allowed = atol + rtol * abs(a)
    if abs(b - a) <= allowed:
        return None
    return (f"{where}: {name} {_show(a)} -> {_show(b)} (|diff| {abs(b - a):.4g} > tolerance {allowed:.4g} "
            f"= atol {atol:g} + rtol {rtol:g} * |baseline|)")


def _show(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def compare(baseline: Mapping[str, Any], current: Mapping[str, Any], *, rtol: float = DEFAULT_RTOL,
            atol: float = DEFAULT_ATOL, tolerances: Mapping[str, Mapping[str, float]] | None = None) -> list[str]:
    """Differences between two :func:`baseline_data` dicts beyond tolerance, one readable line each (empty: match)."""
    tolerances = tolerances or {}
    if rtol < 0 or atol < 0:
        raise ConfigError(f"rtol and atol must be >= 0, got rtol={rtol}, atol={atol}; pass non-negative tolerances")
    old, new = baseline["classes"], current["classes"]
    diffs = []
    missing, extra = sorted(int(k) for k in set(old) - set(new)), sorted(int(k) for k in set(new) - set(old))
    if missing:
        diffs.append(f"classes {missing} are in the baseline but not in this run")
    if extra:
        diffs.append(f"classes {extra} are in this run but not in the baseline")
    for key in sorted(set(old) & set(new), key=int):
        o, n = old[key], new[key]
        label = n.get("label", key)
        where = f"class {key}" if str(label) == key else f"class {key} {label!r}"
        for name in VERDICTS:
            if o.get(name) is not None and n.get(name) is not None and bool(o[name]) != bool(n[name]):
                diffs.append(f"{where}: verdict {name} {bool(o[name])} -> {bool(n[name])}")
        numbers: list[str | None] = [
            _compare_number(where, name, o.get(name), n.get(name), *_tolerance(name, rtol, atol, tolerances))
            for name in NUMBERS if name in o]  # a baseline written before a number existed does not compare it
        for name, value in sorted(o["stats"].items()):
            if name not in n["stats"]:
                diffs.append(f"{where}: statistic {name} is in the baseline but no longer computed")
                continue
            numbers.append(_compare_number(where, f"stat {name}", value, n["stats"][name],
                                           *_tolerance(name, rtol, atol, tolerances)))
        diffs += [d for d in numbers if d]
    return [d for d in diffs if d]


def _settings_note(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Point at changed synthesis settings: drift may come from them rather than from the model."""
    old, new = baseline.get("settings") or {}, current.get("settings") or {}
    changed = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    notes = []
    if changed:
        notes.append("note: synthesis settings differ from the baseline's (" + "; ".join(changed)
                     + "), so differences may come from the settings rather than the model")
    om, nm = baseline.get("model") or {}, current.get("model") or {}
    if om.get("fingerprint") and nm.get("fingerprint"):
        same = om["fingerprint"] == nm["fingerprint"]
        notes.append(f"model: baseline {om.get('name')}@{om['fingerprint'][:12]} -> now "
                     f"{nm.get('name')}@{nm['fingerprint'][:12]}" + (" (same weights)" if same else ""))
    return notes


# --------------------------------------------------------------------------- the check
@dataclass
class BaselineOutcome:
    """What :func:`check_baseline` did: ``status`` is ``"matched"``, ``"created"``, ``"updated"`` or ``"drifted"``."""

    status: str
    path: Path
    message: str
    differences: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in ("created", "drifted")


def check_baseline(report: Any, path: str | Path, *, update: bool = False, test: str = "",
                   rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                   tolerances: Mapping[str, Mapping[str, float]] | None = None) -> BaselineOutcome:
    """Compare ``report`` with the baseline at ``path``; write it when missing or when ``update`` is true.

    Raises :class:`BaselineError` when the file exists but is corrupt (and ``update`` is false).
    """
    path = Path(path)
    current = baseline_data(report, test=test)
    if update:
        write_baseline(path, current)
        return BaselineOutcome("updated", path, f"amaxcheck baseline updated: {path}")
    if not path.exists():
        write_baseline(path, current)
        return BaselineOutcome(
            "created", path,
            f"amaxcheck baseline {path} did not exist; it was written from this run. Review it, commit it, "
            "and rerun: the test fails this once so that a new baseline is never accepted silently.")
    baseline = load_baseline(path)
    diffs = compare(baseline, current, rtol=rtol, atol=atol, tolerances=tolerances)
    if not diffs:
        return BaselineOutcome("matched", path, f"amaxcheck baseline matched: {path}")
    lines = [f"amaxcheck baseline drift: {len(diffs)} difference(s) from {path}"]
    lines += [f"  - {d}" for d in diffs]
    lines += [f"  {note}" for note in _settings_note(baseline, current)]
    lines.append(f"  If the change is intended, rerun with {UPDATE_HINT} to accept it (then review and commit "
                 "the baseline).")
    return BaselineOutcome("drifted", path, "\n".join(lines), diffs)


def assert_baseline(report: Any, path: str | Path, **kwargs: Any) -> BaselineOutcome:
    """:func:`check_baseline`, raising :class:`AssertionError` with its message when the baseline was created or drifted."""
    __tracebackhide__ = True
    outcome = check_baseline(report, path, **kwargs)
    if outcome.failed:
        raise AssertionError(outcome.message)
    return outcome
