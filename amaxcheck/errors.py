"""Errors amaxcheck raises on bad input.

Every error names the problem *and* the fix, so a failing CI log is enough to
act on. All derive from :class:`AmaxcheckError`; the ones about bad arguments
also derive from :class:`ValueError` so generic handlers still catch them.
This module imports nothing heavy (no TensorFlow).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AmaxcheckError(Exception):
    """Base class of every error amaxcheck raises on purpose."""


class ModelError(AmaxcheckError, ValueError):
    """The model cannot be used as given (inputs, outputs, dtype, rank)."""


class ClassSelectionError(AmaxcheckError, ValueError):
    """A requested class index or label does not exist in the model."""


class UnitSelectionError(AmaxcheckError, ValueError):
    """Requested units of a layer (layer mode) are empty, repeated, not integers, or do not exist in the layer."""


class NoGradientError(AmaxcheckError):
    """The model has no usable gradient path from the optimized input to the class scores."""


class AscentDivergedError(AmaxcheckError):
    """Some samples produced NaN/Inf during the ascent.

    ``samples`` lists ``(class_index, restart, step)`` for each diverged
    sample; ``result`` holds everything synthesized before the divergence
    (the diverged samples keep their last finite iterate), so nothing is lost.
    """

    def __init__(self, message: str, samples: Sequence[tuple[int, int, int]], result: Any):
        super().__init__(message)
        self.samples = list(samples)
        self.result = result


class ModelLoadError(AmaxcheckError):
    """A model file could not be read."""


class UnsafeModelError(ModelLoadError):
    """Loading the model would execute arbitrary code; refused without ``--unsafe``."""


class DataError(AmaxcheckError, ValueError):
    """Arrays handed to amaxcheck are unusable (NaN, wrong shape, range or dtype)."""


class ReferenceDataError(DataError):
    """Reference images or labels do not match the model (shape, range, dtype, length)."""


class BaselineError(AmaxcheckError):
    """A baseline file is missing, corrupt or does not match the test."""


class ConfigError(AmaxcheckError, ValueError):
    """A setting (CLI flag, pytest option, pyproject value) is invalid."""


class InputRangeError(ConfigError):
    """The declared input range contradicts the model's own layers or the reference images."""


class ArgumentTypeError(ConfigError, TypeError):
    """An argument has the wrong type (also a ``TypeError``, so generic handlers still catch it)."""


class UnknownNameError(AmaxcheckError, KeyError):
    """A name looked up in a report (a check's name, a class's label or index) is not there.

    Also a :class:`KeyError`, as these lookups raised before; the message lists the names there are.
    """

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class UnknownClassError(ClassSelectionError, UnknownNameError):
    """A class asked of a report is not in it (a :class:`ClassSelectionError` that is also a :class:`KeyError`)."""


class MergeError(ConfigError):
    """``amaxcheck merge`` was given parts that do not make one report (another model or settings, a shard twice or missing)."""
