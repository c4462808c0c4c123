"""Report types returned by :func:`amaxcheck.check`. NumPy only (no TensorFlow), JSON-ready.

The JSON layout (``Report.to_dict``) is a contract read by pipelines; see
``SCHEMA_VERSION`` and the README. Keys are only ever added, never renamed.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UnknownClassError, UnknownNameError

SCHEMA_VERSION = 1
PASS, FAIL, SKIP = "pass", "fail", "skip"


def jsonable(value: Any) -> Any:
    """A strict-JSON copy: NumPy scalars/arrays to Python, NaN/Inf to ``None``, paths to strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass
class CheckResult:
    """One check on one class: ``status`` is ``"pass"``, ``"fail"`` or ``"skip"``."""

    name: str
    status: str
    value: float | None
    threshold: Any
    message: str

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "value": jsonable(self.value),
                "threshold": jsonable(self.threshold),
                "message": self.message}


@dataclass
class RankedClass:
    index: int
    label: str
    p: float

    def to_dict(self) -> dict:
        return {"index": int(self.index), "label": self.label, "p": jsonable(self.p)}


class Checked:
    """``passed``, ``failed_checks`` and ``check(name)`` over a report's ``checks`` (class and unit reports)."""

    checks: list[CheckResult]

    def _subject(self) -> str:
        raise NotImplementedError

    @property
    def passed(self) -> bool:
        return not any(c.failed for c in self.checks)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.failed]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise UnknownNameError(f"{self._subject()} has no check named {name!r}; ask for one of "
                               f"{[c.name for c in self.checks]}")


@dataclass
class ClassReport(Checked):
    """Checks and verdict for one class (its best restart unless stated)."""

    index: int
    label: str
    confidence: float  # target probability on the best restart, after clipping/quantization
    margin: float  # confidence minus the runner-up's probability
    top_k: list[RankedClass]
    in_top_k: bool
    degeneracy: float  # in [0, 1]: 0 = the ascent reaches certainty, 1 = no higher than untrained twins
    degenerate: bool  # the class sits at the untrained floor
    reasons: list[str]  # plain-language explanations of the verdict
    signals: dict[str, float]  # reach (a degeneracy) and the naturalness parts, each in [0, 1]
    stats: dict[str, float]  # image statistics (see amaxcheck.stats)
    checks: list[CheckResult]
    image: np.ndarray | None = field(repr=False, default=None)  # best restart, raw input range
    image_path: str | None = None  # set when artifacts are written
    naturalness: float = float("nan")  # in [0, 1], see amaxcheck.verdict.naturalness

    def _subject(self) -> str:
        return f"class {self.label!r}"

    def to_dict(self) -> dict:
        return {
            "index": int(self.index), "label": self.label, "confidence": jsonable(self.confidence),
            "margin": jsonable(self.margin), "top_k": [r.to_dict() for r in self.top_k], "in_top_k": bool(self.in_top_k),
            "degeneracy": jsonable(self.degeneracy), "degenerate": bool(self.degenerate), "reasons": list(self.reasons),
            "signals": {k: jsonable(v) for k, v in self.signals.items()},
            "naturalness": jsonable(self.naturalness),
            "stats": {k: jsonable(v) for k, v in self.stats.items()},
            "checks": [c.to_dict() for c in self.checks], "image": self.image_path,
        }


@dataclass
class Report:
    """What :func:`amaxcheck.check` returns: per-class checks plus the model-level verdict."""

    classes: list[ClassReport]
    degeneracy: float
    degenerate: bool
    reasons: list[str]
    thresholds: dict[str, Any]
    controls: dict[str, Any]  # the learned-nothing control's floor, and notes
    result: Any = field(repr=False, default=None)  # the SynthesisResult checked
    verdict: str | None = None  # "healthy", "degenerate", "inconclusive"; None when not computed
    signals: list[dict[str, Any]] = field(default_factory=list)  # the model-level signals behind the verdict
    naturalness: float = float("nan")  # median of the classes' naturalness
    triggers: Any = None  # the TriggerReport of check(triggers=True), else None

    @property
    def passed(self) -> bool:
        """Every class passes its checks, the model is not degenerate and no backdoor trigger is suspected."""
        clean = self.triggers is None or self.triggers.passed
        return all(c.passed for c in self.classes) and not self.degenerate and clean

    @property
    def inconclusive(self) -> bool:
        return self.verdict == "inconclusive"

    @property
    def failed_classes(self) -> list[ClassReport]:
        return [c for c in self.classes if not c.passed]

    def for_class(self, cls: int | str) -> ClassReport:
        for c in self.classes:
            if c.index == cls or c.label == cls:
                return c
        raise UnknownClassError(
            f"class {cls!r} is not in this report; ask for one of the labels {[c.label for c in self.classes]} "
            f"or indices {[c.index for c in self.classes]} (a label is a str, an index an int)")

    def to_dict(self) -> dict:
        """The per-report part of the JSON contract (the CLI adds model, versions)."""
        r = self.result
        return {
            "schema_version": SCHEMA_VERSION,
            "passed": bool(self.passed),
            "verdict": self.verdict,
            "degenerate": bool(self.degenerate),
            "degeneracy": jsonable(self.degeneracy),
            "naturalness": jsonable(self.naturalness),
            "reasons": list(self.reasons),
            "signals": jsonable(self.signals),
            "thresholds": {k: jsonable(v) for k, v in self.thresholds.items()},
            "controls": jsonable(self.controls),
            "settings": None if r is None else jsonable(r.settings),
            "classes": [c.to_dict() for c in self.classes],
            "triggers": None if self.triggers is None else self.triggers.to_dict(),
        }

    def table(self) -> str:
        """The per-class table the CLI prints (:func:`amaxcheck.output.reporting.terminal_table` of ``to_dict()``)."""
        from ..output.reporting import terminal_table

        return terminal_table(self.to_dict())
