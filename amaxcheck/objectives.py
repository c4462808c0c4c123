"""Public home of the objectives (``from amaxcheck.objectives import class_log_prob``).

The implementation lives in :mod:`amaxcheck.ascent.objectives`; this module
re-exports its public names so the documented import path stays stable.
"""
from .ascent.objectives import (
    AscentContext,
    Objective,
    channel,
    class_log_prob,
    class_logit,
    custom,
    default_objective,
    default_unit_objective,
    l1,
    l2,
    neuron,
    total_variation,
)

__all__ = [
    "AscentContext",
    "Objective",
    "channel",
    "class_log_prob",
    "class_logit",
    "custom",
    "default_objective",
    "default_unit_objective",
    "l1",
    "l2",
    "neuron",
    "total_variation",
]
