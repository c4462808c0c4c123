"""Three outcomes from the learning signals: ``healthy``, ``degenerate`` or ``inconclusive``. Pure, no TensorFlow.

:func:`decide` reads the :class:`~amaxcheck.verdict.signals.Signal` values and
applies the rules the README states:

1. **Held-out accuracy decides when it can** (labelled reference images): it
   measures learning directly. ``nothing`` -> degenerate (a memorizer of random
   labels or a collapsed model gets held-out images right only by chance).
   ``learned`` -> healthy, unless the weights are still at their initialization
   (then inconclusive: the reference images are probably not held out, or this
   is not the trained model). Reach does not overrule it: adversarially robust
   models are hard to climb and can stay near the untrained floor in a short
   ascent (measured on the validation zoo).
2. **Weights still at their initialization** (untrained, or a head never
   trained) -> degenerate.
3. **Classes that rise no higher than untrained twins**, from a trained model ->
   inconclusive: a collapsed model, or one the ascent cannot climb in the steps
   given; labelled held-out data decide.
4. **Otherwise inconclusive**: the model is trained and rises above the
   untrained floor, but without labelled held-out data a memorizer of random
   labels cannot be told from a model that generalizes (measured on the
   validation zoo: no reference-free signal separated them across architectures).

Every inconclusive outcome says how to get an answer.
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
    sig = tuple(signals)
    by_name = {s.name: s for s in sig}
    accuracy, weights, reach = (by_name.get(n) for n in ("held_out_accuracy", "weights", "reach"))
    said = {name: (s.says if s is not None else None) for name, s in
            (("accuracy", accuracy), ("weights", weights), ("reach", reach))}
    if accuracy is not None and said["accuracy"] == NOTHING:
        also = [s for s in (weights, reach) if s is not None and s.says == NOTHING]
        return Decision(DEGENERATE, (f"learned nothing usable: {accuracy.reason}",)
                        + tuple(f"also: {s.reason}" for s in also), sig)
    if accuracy is not None and said["accuracy"] == LEARNED:
        if weights is not None and said["weights"] == NOTHING:
            return Decision(INCONCLUSIVE, (f"signals disagree: {accuracy.reason}", f"but {weights.reason}",
                                           ("are the reference images held out from training, and is this the "
                                            "trained model?")), sig)
        notes = [s.reason for s in (weights, reach) if s is not None]
        if reach is not None and said["reach"] == NOTHING:
            notes[-1] += " (adversarially robust models are hard to climb: more --steps raise it)"
        return Decision(HEALTHY, (f"learned: {accuracy.reason}",) + tuple(notes), sig)
    if weights is not None and said["weights"] == NOTHING:  # exact constants and KS tests: decisive
        return Decision(DEGENERATE, (f"learned nothing: {weights.reason}",)
                        + tuple(f"also: {s.reason}" for s in (reach,) if s is not None), sig)
    why = [s.reason for s in (weights, reach) if s is not None]
    if reach is not None and said["reach"] == NOTHING:
        why.append("the model was trained but its classes rise no higher than untrained twins: a collapsed model, "
                   "or one the ascent cannot climb in the steps given (adversarially robust models need more); "
                   + NEEDS_REFERENCE)
    elif accuracy is None:
        why.append("without labelled held-out data a model that memorized random labels cannot be told from one "
                   "that generalizes: " + NEEDS_REFERENCE)
    else:
        why += [accuracy.reason, NEEDS_REFERENCE.replace("pass", "pass more")]
    return Decision(INCONCLUSIVE, tuple(why), sig)
