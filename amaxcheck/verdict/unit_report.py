"""Report types :func:`amaxcheck.check` returns for a layer-mode result. NumPy only, JSON-ready.

A unit of a hidden layer has no target class, so its report holds no
confidence, top-k, degeneracy or verdict: per unit, the activation its best
ideal input reaches against a baseline, the image statistics and the restarts'
agreement; for the layer, ``verdict`` is ``None`` with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UnitSelectionError
from .report import SCHEMA_VERSION, Checked, CheckResult, jsonable

#: why a layer report has no model verdict
VERDICT_NOT_APPLICABLE = (
    "not applicable: a layer visualization shows what each unit responds to, not whether the model learned its "
    "task; for a verdict, check the classes (amaxcheck.check on synthesize(model, classes='all'), or amaxcheck gate)"
)


@dataclass
class UnitReport(Checked):
    """What applies to one unit: the activation reached, the image statistics, restart agreement."""

    unit: int
    activation: float  # the unit's mean activation (channel mean) on its best restart's image
    baseline: float  # the same unit's mean activation on the reference images, or on a mid-grey image
    ratio: float  # activation / baseline; NaN when the baseline is not positive (compare the two directly)
    best: int  # the restart with the highest activation
    stats: dict[str, float]  # image statistics of the best restart (see amaxcheck.stats) and restart_agreement
    checks: list[CheckResult]
    image: np.ndarray | None = field(repr=False, default=None)  # best restart, raw input range

    def _subject(self) -> str:
        return f"unit {self.unit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": int(self.unit), "activation": jsonable(self.activation), "baseline": jsonable(self.baseline),
            "ratio": jsonable(self.ratio), "best_restart": int(self.best),
            "stats": {k: jsonable(v) for k, v in self.stats.items()},
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass
class LayerReport:
    """What :func:`amaxcheck.check` returns for a layer-mode result: one :class:`UnitReport` per unit, no verdict.

    ``passed`` is true when every unit passes its checks: its activation rose
    above its baseline (a unit no input raises above what plain data gives it is
    dead or unreachable from the input) and, with ``stat_bounds``, its statistics
    lie within them.
    """

    layer: str
    units: list[UnitReport]
    baseline: str  # what the baselines are measured on: "the reference images (n=360)" or "a mid-grey image (0.5)"
    result: Any = field(repr=False, default=None)  # the SynthesisResult checked
    verdict: None = None  # a layer has no model verdict (see verdict_reason)
    verdict_reason: str = VERDICT_NOT_APPLICABLE
    mode: str = "layer"

    @property
    def passed(self) -> bool:
        """Every unit passes its checks (its activation rose above its baseline; stat bounds, if any)."""
        return all(u.passed for u in self.units)

    @property
    def failed_units(self) -> list[UnitReport]:
        return [u for u in self.units if not u.passed]

    def for_unit(self, unit: int) -> UnitReport:
        for u in self.units:
            if u.unit == unit:
                return u
        raise UnitSelectionError(f"unit {unit!r} is not in this report of layer {self.layer!r}; it holds units "
                                 f"{[u.unit for u in self.units]}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``mode``, ``layer``, ``passed``, ``verdict`` (``null``) and its reason, and ``units``."""
        r = self.result
        return {
            "schema_version": SCHEMA_VERSION, "mode": self.mode, "layer": self.layer, "passed": bool(self.passed),
            "verdict": None, "verdict_reason": self.verdict_reason, "baseline": self.baseline,
            "settings": None if r is None else jsonable(r.settings),
            "units": [u.to_dict() for u in self.units],
        }

    def table(self) -> str:
        """One line per unit: activation, baseline, ratio, restart agreement, PASS/FAIL; then the verdict's reason."""
        head = f"{'unit':>5}  {'activation':>10}  {'baseline':>9}  {'ratio':>7}  {'agreement':>9}  result"
        title = (f"layer {self.layer!r}: each unit's activation on its best ideal input, against its mean "
                 f"activation (baseline) on {self.baseline}")
        lines = [title, head]
        for u in self.units:
            ratio = f"{u.ratio:.2f}x" if np.isfinite(u.ratio) else "-"
            agree = u.stats.get("restart_agreement", float("nan"))
            lines.append(f"{u.unit:>5}  {u.activation:>10.4g}  {u.baseline:>9.4g}  {ratio:>7}  "
                         f"{(f'{agree:.2f}' if np.isfinite(agree) else '-'):>9}  {'PASS' if u.passed else 'FAIL'}")
        n_fail = len(self.failed_units)
        lines.append(f"{len(self.units) - n_fail} of {len(self.units)} units pass; verdict: {self.verdict_reason}")
        return "\n".join(lines)
