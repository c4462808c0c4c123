"""The learning signals of the verdict: pure functions over plain arrays.

Each signal answers one question about the model against an explicit null
(the re-initialized controls of :mod:`amaxcheck.verdict.controls`, or chance)
and returns a :class:`Signal`: its value, the null it was measured against, what
it says (``LEARNED``, ``NOTHING`` or ``None`` for "cannot tell") and one reason
sentence built from the same numbers. :mod:`amaxcheck.verdict.decision` combines
them. The README lists each signal, its formula and its measured behaviour.

* :func:`weights_at_initialization` -- are the trainable weights still what their
  own initializers draw? Constant-initialized variables (biases, BatchNorm) are
  compared exactly; random ones with a two-sample Kolmogorov-Smirnov test against
  a fresh draw.
* :func:`reach` -- can the ascent raise each class above what the same
  architecture reaches untrained? (Dead heads and untrained models cannot.)
* :func:`held_out_accuracy` -- with labelled reference images (held out from
  training): is the accuracy significantly above chance, and do the data rule
  out a usable model? Memorizers of random labels and collapsed training sit at chance.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LEARNED, NOTHING = "learned", "nothing"
#: significance level of every statistical test in the verdict (one-sided)
ALPHA = 1e-3
#: a model is "usable" if it closes at least this share of the gap between chance and perfect accuracy
#: (Cohen's-kappa-like skill); held-out data that rule this out call the model degenerate
USABLE_SKILL = 0.5
#: the share of checked classes that must sit at the untrained floor for reach to call the model degenerate
FLOOR_SHARE = 0.5
#: an untrained twin reaching this probability saturates the floor: reaching confidence then proves nothing
#: (the default confidence a class must reach; e.g. raw 0..255 inputs without ``Rescaling`` saturate the softmax
#: of a freshly initialized network)
SATURATED_FLOOR = 0.9


@dataclass(frozen=True)
class Signal:
    """One signal's value, the null it was compared with, what it says and why (in words that quote the numbers)."""

    name: str
    value: float
    null: float
    says: str | None
    reason: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "null": self.null, "says": self.says,
                "reason": self.reason, "details": self.details}


# --------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class LayerWeights:
    """One trainable variable next to what its initializer produces.

    ``fresh`` is a new draw from the same initializer; ``constant`` is True when the
    initializer always returns the same values (zeros, ones, constants).
    """

    name: str
    value: np.ndarray
    fresh: np.ndarray
    constant: bool


#: random-initialized variables with fewer values than this are not tested (the KS test has no power)
MIN_TESTED_VALUES = 50


def _variable_moved(w: LayerWeights) -> tuple[bool, float] | None:
    """(moved, p-value) for one variable; None when it cannot be tested."""
    from scipy.stats import ks_2samp  # type: ignore[import-untyped]

    value, fresh = np.asarray(w.value, np.float64).ravel(), np.asarray(w.fresh, np.float64).ravel()
    if w.constant:
        return bool(not np.array_equal(value, fresh)), 0.0 if not np.array_equal(value, fresh) else 1.0
    if value.size < MIN_TESTED_VALUES or np.std(fresh) == 0:
        return None
    p = float(ks_2samp(value, fresh).pvalue)
    return p < ALPHA, p


def weights_at_initialization(layers: Sequence[LayerWeights], head: str | None = None) -> Signal:
    """Do the trainable weights still look drawn from their own initializers?

    A variable has *moved* when a constant-initialized one differs from its
    constant at all, or when a random one fails a two-sample KS test against a
    fresh draw at level :data:`ALPHA`. Says ``NOTHING`` when no tested variable
    moved (an untrained model) or when the output layer ``head`` did not move (a
    head that was never trained: its bias, compared exactly, is unchanged), ``LEARNED`` otherwise (the weights were trained:
    necessary for learning, not sufficient). ``value`` is the share of tested variables that moved.
    """
    tested = [(w, r) for w in layers if (r := _variable_moved(w)) is not None]
    if not tested:
        return Signal("weights", float("nan"), 0.0, None,
                      "no trainable variable could be compared with its initializer")
    moved = [w.name for w, (m, _) in tested if m]
    share = len(moved) / len(tested)
    head_vars = [(w, r) for w, r in tested if head is not None and w.name.split("/")[0] == head]
    details = {"tested": len(tested), "moved": len(moved), "unmoved": [w.name for w, (m, _) in tested if not m][:8]}
    if not moved:
        return Signal("weights", share, 0.0, NOTHING,
                      f"the weights are still at their initialization: none of {len(tested)} tested variables differs "
                      f"from its initializer (constants compared exactly, random ones by a KS test at p<{ALPHA:g})",
                      details)
    # Only an exact comparison proves a head unchanged: a KS test that does not reject is no evidence (a small head
    # kernel trained for a few epochs keeps its initializer's distribution), so a head without a constant-initialized
    # variable (no bias) cannot say "never trained".
    head_exact = [(w, r) for w, r in head_vars if w.constant]
    if head_exact and not any(m for _, (m, _) in head_vars):
        return Signal("weights", share, 0.0, NOTHING,
                      f"the output layer '{head}' is still at its initialization ({len(moved)} of {len(tested)} "
                      "tested variables moved, none of the head's): the head was never trained", details)
    return Signal("weights", share, 0.0, LEARNED,
                  f"{len(moved)} of {len(tested)} tested variables moved away from their initializers", details)


# --------------------------------------------------------------------------- reach
def reach(model_reach: np.ndarray, control_reach: np.ndarray, chance: float) -> Signal:
    """Can the ascent raise the classes above what the untrained architecture reaches?

    ``model_reach``: best target probability of each checked class; ``control_reach``:
    the same for every (control twin, class) of the re-initialized controls. A
    class is *at the floor* when it reaches no more than the controls' maximum.
    Says ``NOTHING`` when at least :data:`FLOOR_SHARE` of the classes are at the
    floor, ``LEARNED`` when every class rises above it, and ``None`` when the
    floor reaches :data:`SATURATED_FLOOR` (too high to tell) or classes split.
    """
    m = np.asarray(model_reach, np.float64)
    q = np.asarray(control_reach, np.float64)
    if m.size == 0 or q.size == 0:
        return Signal("reach", float("nan"), float("nan"), None, "no reach measured")
    floor = float(np.max(q))
    at_floor = m <= floor
    share = float(np.mean(at_floor))
    med = float(np.median(m))
    details = {"control_median": float(np.median(q)), "control_max": floor, "classes_at_floor": int(at_floor.sum()),
               "classes": int(m.size), "chance": float(chance)}
    text = (f"median best probability {med:.2f} vs at most {floor:.2f} for the untrained controls "
            f"(median {np.median(q):.2f}, chance {chance:.2f})")
    if floor >= SATURATED_FLOOR:
        return Signal("reach", med, floor, None,
                      f"an untrained model of this architecture already reaches p={floor:.2f}, so reaching "
                      f"confidence proves nothing here ({text})", details)
    if share >= FLOOR_SHARE:
        return Signal("reach", med, floor, NOTHING,
                      f"{int(at_floor.sum())} of {m.size} classes rise no higher than an untrained model of the same "
                      f"architecture: {text}", details)
    if share == 0.0:
        return Signal("reach", med, floor, LEARNED, f"every class rises above the untrained floor: {text}", details)
    return Signal("reach", med, floor, None,
                  f"{int(at_floor.sum())} of {m.size} classes stay at the untrained floor: {text}", details)


# --------------------------------------------------------------------------- held-out accuracy
def chance_accuracy(labels: np.ndarray) -> float:
    """The accuracy of always predicting the most frequent reference label: what learning nothing can reach."""
    y = np.asarray(labels)
    return float(np.bincount(y).max() / len(y)) if len(y) else float("nan")


def held_out_accuracy(predicted: np.ndarray, labels: np.ndarray) -> Signal:
    """Is the accuracy on labelled held-out images above chance, and is a usable model ruled out?

    ``chance`` is :func:`chance_accuracy`. ``LEARNED`` when a one-sided binomial test
    rejects "no better than chance" at :data:`ALPHA`. ``NOTHING`` when it does not
    *and* the exact (Clopper-Pearson) upper bound at ``1 - ALPHA`` lies below
    ``chance + USABLE_SKILL * (1 - chance)``: the data rule out a model that closes
    half the gap between chance and perfect. ``None`` when too few images decide
    either way. The reference must be held out: a memorizer gets its training images right.
    """
    y = np.asarray(labels)
    if len(y) == 0:
        return Signal("held_out_accuracy", float("nan"), float("nan"), None, "no labelled reference images")
    k = int(np.sum(np.asarray(predicted) == y))
    return accuracy_signal(k, len(y), chance_accuracy(y), "labelled reference images right")


def multilabel_held_out_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> Signal:
    """:func:`held_out_accuracy` for independent labels (a multi-label head).

    ``labels`` is multi-hot ``(n, n_classes)``; a label is predicted present when
    its probability is at least 0.5. Each image scores the share of its labels
    decided right (Hamming accuracy); ``chance`` is what predicting every label's
    majority value for all images scores. The test counts each image as one trial
    with its Hamming accuracy as the success: a label-wise count would treat an
    image's correlated labels as independent evidence, and a mean in [0, 1] never
    varies more than a Bernoulli variable with the same mean, so this errs on the
    side of "inconclusive".
    """
    y = np.asarray(labels).astype(bool)
    if len(y) == 0:
        return Signal("held_out_accuracy", float("nan"), float("nan"), None, "no labelled reference images")
    right = (np.asarray(probabilities) >= 0.5) == y
    share = y.mean(axis=0)
    chance = float(np.mean(np.maximum(share, 1 - share)))
    k = round(float(right.mean(axis=1).sum()))
    return accuracy_signal(k, len(y), chance, f"labelled reference images right, counting each of its "
                                              f"{y.shape[1]} labels (Hamming accuracy)")


def accuracy_signal(k: int, n: int, chance: float, what: str) -> Signal:
    """The ``held_out_accuracy`` signal for ``k`` of ``n`` right where learning nothing scores ``chance``."""
    from scipy.stats import beta, binomtest

    acc = k / n
    p = float(binomtest(k, n, chance, alternative="greater").pvalue) if chance < 1 else 1.0
    upper = float(beta.ppf(1 - ALPHA, k + 1, n - k)) if k < n else 1.0
    usable = chance + USABLE_SKILL * (1 - chance)
    details = {"correct": k, "n": n, "chance": chance, "p_value": p, "upper_bound": upper, "usable": usable}
    text = f"{k} of {n} {what} ({acc:.0%}; chance {chance:.0%}, binomial p={p:.2g})"
    if chance >= 1.0:
        return Signal("held_out_accuracy", acc, chance, None,
                      f"every reference image has the same label, so accuracy cannot show learning ({text})", details)
    if p < ALPHA:
        return Signal("held_out_accuracy", acc, chance, LEARNED, f"significantly better than chance: {text}", details)
    if upper < usable:
        return Signal("held_out_accuracy", acc, chance, NOTHING,
                      f"no better than chance: {text}; a usable model (>= {usable:.0%}) is ruled out "
                      f"(upper bound {upper:.0%})", details)
    return Signal("held_out_accuracy", acc, chance, None,
                  f"too few reference images to tell: {text}, upper bound {upper:.0%}", details)
