"""Three outcomes from the learning signals: ``healthy``, ``degenerate`` or ``inconclusive``. Pure, no TensorFlow.

:func:`decide` reads the :class:`~amaxcheck.verdict.signals.Signal` values and
applies the rules the README states:

1. **Held-out accuracy decides when it can** (labelled reference images): it
   measures learning directly. ``nothing`` -> degenerate (a memorizer of random
   labels or a collapsed model gets its held-out images right only by chance).
   ``learned`` -> healthy, unless a learned-nothing signal contradicts it
   (weights at initialization, reach at the untrained floor): then inconclusive,
   because the reference images are probably not held out.
2. **Without it, the learned-nothing signals decide alone**: weights still at
   their initialization, or reach no higher than untrained twins -> degenerate.
   If the two contradict each other (weights untouched yet classes reach far
   above untrained twins), inconclusive.
3. **Otherwise inconclusive**: the model was trained and its classes rise above
   the untrained floor, but without labelled held-out data a memorizer of random
   labels cannot be told from a model that generalizes (measured on the
   validation zoo: no reference-free signal separated them across architectures).
   The reason says how to get an answer.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .signals import LEARNED, NOTHING, Signal

HEALTHY, DEGENERATE, INCONCLUSIVE = "healthy", "degenerate", "inconclusive"
VERDICTS = (HEALTHY, DEGENERATE, INCONCLUSIVE)
#: the model-level ``degeneracy`` number of each outcome (kept for pipelines that read the number)
DEGENERACY = {HEALTHY: 0.0, INCONCLUSIVE: 0.5, DEGENERATE: 1.0}
#: how to turn an inconclusive verdict into an answer
NEEDS_REFERENCE = ("pass labelled reference images held out from training (--reference with labels) so "
                   "the verdict can test learning directly")


@dataclass(frozen=True)
class Decision:
    """The outcome, one reason per signal that counted (words quote the signal's numbers), and every signal."""

    verdict: str
    reasons: tuple[str, ...]
    signals: tuple[Signal, ...] = field(default=())

    @property
    def degenerate(self) -> bool:
        return self.verdict == DEGENERATE

    @property
    def degeneracy(self) -> float:
        return DEGENERACY[self.verdict]


def _saying(signals: Sequence[Signal], what: str) -> list[Signal]:
    return [s for s in signals if s.says == what]


def decide(signals: Sequence[Signal]) -> Decision:
    """The verdict from the model-level signals (any of ``weights``, ``reach``, ``held_out_accuracy``)."""
    by_name = {s.name: s for s in signals}
    sig = tuple(signals)
    accuracy = by_name.get("held_out_accuracy")
    nothing = [s for s in _saying(sig, NOTHING) if s.name != "held_out_accuracy"]
    learned = [s for s in _saying(sig, LEARNED) if s.name != "held_out_accuracy"]
    if accuracy is not None and accuracy.says == NOTHING:
        return Decision(DEGENERATE, (f"learned nothing usable: {accuracy.reason}",)
                        + tuple(f"also: {s.reason}" for s in nothing), sig)
    if accuracy is not None and accuracy.says == LEARNED:
        if nothing:
            return Decision(INCONCLUSIVE, tuple(
                [f"signals disagree: {accuracy.reason}"] + [f"but {s.reason}" for s in nothing]
                + ["are the reference images held out from training?"]), sig)
        return Decision(HEALTHY, (f"learned: {accuracy.reason}",) + tuple(s.reason for s in learned), sig)
    weights, reach = by_name.get("weights"), by_name.get("reach")
    if weights is not None and reach is not None and weights.says == NOTHING and reach.says == LEARNED:
        return Decision(INCONCLUSIVE, (f"signals disagree: {weights.reason}", f"yet {reach.reason}",
                                       NEEDS_REFERENCE), sig)
    if nothing:
        return Decision(DEGENERATE, tuple(f"learned nothing: {s.reason}" for s in nothing), sig)
    why = [s.reason for s in learned] + [s.reason for s in sig if s.says is None]
    if accuracy is None:
        why.append("without labelled held-out data a model that memorized random labels cannot be told from one "
                   "that generalizes: " + NEEDS_REFERENCE)
    else:
        why.append(NEEDS_REFERENCE.replace("pass", "pass more"))
    return Decision(INCONCLUSIVE, tuple(why), sig)
