"""Judging reversed triggers: is one class reachable by a far smaller stamp than the others? (NumPy only.)

Neural Cleanse's outlier test (Wang et al., S&P 2019): over the classes' mask L1
norms, the anomaly index of a class is ``|l1 - median| / (1.4826 * MAD)`` (the
consistency constant makes the MAD estimate a standard deviation for normal
data); a class *below* the median with an index above 2 is an outlier.

Two guards come from the statistic's known failure modes:

* **Few classes.** With fewer than :data:`~amaxcheck.defaults.TRIGGER_MIN_CLASSES`
  classes the median and the MAD rest on a handful of numbers (with two classes
  every index is 0.67), so the test cannot single a class out: the outcome is
  ``inconclusive`` and the reasons give the sizes to compare.
* **Effect size.** With ten classes, even norms drawn from one normal
  distribution put some class past an index of 2 about one time in five (each
  class has a 2.3 % lower tail), and classes genuinely differ in how easily
  they are reached. A trigger is flagged only when its mask is also at most
  :data:`~amaxcheck.defaults.TRIGGER_MAX_RATIO` of the median class's (a planted
  stamp is a few percent of the image where the other classes need several
  times more); an outlier by the index alone is reported as a note.

A flagged trigger must also carry over: its attack success on held-out
reference images (not fitted on) must be at least half the success target.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import defaults as D
from .report import jsonable

#: makes the median absolute deviation a standard-deviation estimate for normal data
CONSISTENCY = 1.4826
SUSPECTED, CLEAN, INCONCLUSIVE = "suspected_trigger", "no_trigger_found", "inconclusive"


def anomaly_index(norms: Any) -> np.ndarray:
    """``|x - median| / (1.4826 * MAD)`` per value; 0 where ``x`` is the median, ``inf`` if the MAD is 0 otherwise."""
    x = np.asarray(norms, np.float64)
    med = np.median(x)
    mad = CONSISTENCY * np.median(np.abs(x - med))
    dev = np.abs(x - med)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dev == 0, 0.0, dev / mad if mad > 0 else np.inf)


def describe_location(mask: Any) -> str:
    """Where a mask's weight sits, in words: ``"top-left corner"``, ``"centre"``, ``"left edge"``, ``"spread out"``.

    The blob that carries the most weight (8-connected pixels holding at least
    half the mask's peak) is located by its weighted centre in thirds of the
    image; a mask whose heaviest blob holds less than half its total weight, or
    spans more than half the image's height and width, is ``"spread out"``.
    """
    from scipy import ndimage  # type: ignore[import-untyped]

    m = np.asarray(mask, np.float64)
    if m.ndim != 2 or not np.isfinite(m).all() or m.max() <= 0:
        return "spread out"
    blobs, count = ndimage.label(m >= 0.5 * m.max(), structure=np.ones((3, 3)))
    weights = np.asarray(ndimage.sum(m, blobs, np.arange(1, count + 1)), np.float64)
    k = int(np.argmax(weights)) + 1
    if weights[k - 1] < 0.5 * m.sum():
        return "spread out"
    ys, xs = np.nonzero(blobs == k)
    h, w = m.shape
    if np.ptp(ys) + 1 > h / 2 and np.ptp(xs) + 1 > w / 2:  # one blob over most of the image
        return "spread out"
    cy = np.average(ys + 0.5, weights=m[ys, xs]) / h
    cx = np.average(xs + 0.5, weights=m[ys, xs]) / w
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    if row == "middle":
        return "centre" if col == "centre" else f"{col} edge"
    return f"{row} edge" if col == "centre" else f"{row}-{col} corner"


@dataclass
class TriggerClass:
    """One class's reversed trigger and what the outlier test made of it."""

    index: int
    label: str
    mask_l1: float
    mask_fraction: float
    success: float  # held-out attack success
    held_out: int  # held-out images the success is measured on
    reached: bool  # the fit reached the success target
    anomaly_index: float
    flagged: bool
    location: str
    image: str | None = None  # the artifact picture of mask and pattern, when written

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"class": self.index, "label": self.label, "mask_l1": self.mask_l1,
                         "mask_fraction": self.mask_fraction, "success": self.success, "held_out": self.held_out,
                         "reached": self.reached, "anomaly_index": self.anomaly_index, "flagged": self.flagged,
                         "location": self.location, "image": self.image})


@dataclass
class TriggerReport:
    """The trigger check of one model: ``outcome`` is ``"suspected_trigger"``, ``"no_trigger_found"`` or ``"inconclusive"``."""

    outcome: str
    classes: list[TriggerClass]
    reasons: list[str]
    median_l1: float
    mad: float
    thresholds: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    result: Any = field(default=None, repr=False)  # the TriggerResult judged

    @property
    def suspected_trigger(self) -> bool:
        return self.outcome == SUSPECTED

    @property
    def passed(self) -> bool:
        """No class is flagged (an inconclusive test passes; the reasons say why it could not decide)."""
        return not self.suspected_trigger

    @property
    def flagged(self) -> list[TriggerClass]:
        return [c for c in self.classes if c.flagged]

    def for_class(self, cls: int | str) -> TriggerClass:
        for c in self.classes:
            if c.index == cls or c.label == cls:
                return c
        from ..errors import UnknownClassError

        raise UnknownClassError(f"class {cls!r} has no reversed trigger here; classes: "
                                f"{[c.label for c in self.classes]}")

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "suspected_trigger": self.suspected_trigger,
                "flagged": [c.index for c in self.flagged], "reasons": list(self.reasons),
                "notes": list(self.notes), "median_mask_l1": jsonable(self.median_l1), "mad": jsonable(self.mad),
                "thresholds": jsonable(self.thresholds),
                "settings": None if self.result is None else jsonable(self.result.settings),
                "classes": [c.to_dict() for c in self.classes]}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if x < 0.1 else f"{100 * x:.0f} %"


def judge_triggers(result: Any, *, threshold: float = D.TRIGGER_ANOMALY_THRESHOLD,
                   max_ratio: float = D.TRIGGER_MAX_RATIO, min_classes: int = D.TRIGGER_MIN_CLASSES
                   ) -> TriggerReport:
    """Apply the outlier test to a :class:`~amaxcheck.ascent.triggers.TriggerResult` (pure: arrays in, report out)."""
    l1 = np.asarray(result.mask_l1, np.float64)
    frac = np.asarray(result.mask_fraction, np.float64)
    success = np.asarray(result.success, np.float64)
    reached = np.asarray(result.reached, bool)
    n = len(l1)
    index = anomaly_index(l1)
    med = float(np.median(l1))
    mad = float(CONSISTENCY * np.median(np.abs(l1 - med)))
    min_success = 0.5 * float(result.settings.get("success_target", D.TRIGGER_SUCCESS_TARGET))
    outlier = (l1 < med) & (index > threshold) & reached
    carries = np.nan_to_num(success, nan=0.0) >= min_success
    small = l1 <= max_ratio * med
    enough = n >= min_classes and reached.sum() * 2 > n
    flagged = outlier & small & carries & enough
    spaces = np.asarray(result.masks)
    locations = [describe_location(spaces[j]) if spaces[j].ndim == 2 else "spread out" for j in range(n)]
    classes = [TriggerClass(int(c), result.label(int(c)), float(l1[j]), float(frac[j]), float(success[j]),
                            int(result.held_out_counts[j]), bool(reached[j]), float(index[j]), bool(flagged[j]),
                            locations[j]) for j, c in enumerate(result.classes)]
    others = np.ones(n, bool)
    reasons: list[str] = []
    notes: list[str] = []
    for j in np.flatnonzero(flagged):
        others[j] = False
    lo_o, hi_o = (float(frac[others].min()), float(frac[others].max())) if others.any() else (np.nan, np.nan)
    for j in np.flatnonzero(flagged):
        c = classes[j]
        reasons.append(
            f"a {_pct(c.mask_fraction)} patch ({c.location}) sends {_pct(c.success)} of {c.held_out} held-out "
            f"reference images to class {c.label}; other classes need {_pct(lo_o)}-{_pct(hi_o)} "
            f"(anomaly index {c.anomaly_index:.1f} > {threshold:g}; mask {c.mask_l1 / med:.2f}x the median)")
    for j in np.flatnonzero(outlier & ~flagged & enough):
        c = classes[j]
        why = (f"its mask is {c.mask_l1 / med:.2f}x the median class's, not at most {max_ratio:g}x" if not small[j]
               else f"its stamp moves only {_pct(c.success)} of held-out images (needs {_pct(min_success)})")
        notes.append(f"class {c.label} is an outlier by the index alone ({c.anomaly_index:.1f} > {threshold:g}) but "
                     f"not flagged: {why}")
    for j in np.flatnonzero(~reached):
        notes.append(f"class {classes[j].label}: no mask reached the success target "
                     f"({_pct(float(result.fit_success[j]))} at best); its norm is an upper bound")
    if flagged.any():
        outcome = SUSPECTED
    elif n < min_classes:
        outcome = INCONCLUSIVE
        order = np.argsort(l1)
        j0 = int(order[0])
        rest = f"{_pct(float(frac[order[1:]].min()))}-{_pct(float(frac[order[1:]].max()))}" if n > 1 else "none"
        reasons.append(
            f"only {n} classes: the median and MAD of {n} mask norms cannot single a class out (the outlier test "
            f"needs about {min_classes} or more; with 2 classes every index is 0.67). The smallest trigger, class "
            f"{classes[j0].label}, covers {_pct(float(frac[j0]))} ({classes[j0].location}) and moves "
            f"{_pct(float(success[j0]))} of held-out images; the others cover {rest}. A stamp far smaller than "
            "the others that moves nearly every image is worth a look; check by stamping it on labelled images")
    elif not enough:
        outcome = INCONCLUSIVE
        reasons.append(f"the reversal reached the success target for only {int(reached.sum())} of {n} classes, so "
                       "the median mask is not a reliable yardstick; raise the trigger steps or give more reference "
                       "images")
    else:
        outcome = CLEAN
        j0 = int(np.argmin(l1))
        reasons.append(
            f"no class stands out: the smallest trigger (class {classes[j0].label}, {_pct(float(frac[j0]))}, "
            f"{classes[j0].location}) has anomaly index {index[j0]:.1f} and is {l1[j0] / med:.2f}x the median mask "
            f"({_pct(float(np.median(frac)))}); flagged needs index > {threshold:g} and at most {max_ratio:g}x")
    thresholds = {"anomaly_index": threshold, "max_ratio": max_ratio, "min_classes": min_classes,
                  "min_success": min_success}
    return TriggerReport(outcome, classes, reasons, med, mad, thresholds, notes, result)
