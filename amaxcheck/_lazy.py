"""A module imported on first use, so that light modules can name TensorFlow without importing it.

``tf = lazy_module("tensorflow")`` at the top of a module costs nothing;
the first ``tf.something`` imports TensorFlow. Objectives, parameterizations
and transforms are values a user builds before any model is loaded (in a
pytest marker, a hypothesis strategy, ``[tool.amaxcheck]``), so building them
must stay cheap; only running them needs TensorFlow.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports on the first attribute access."""
    return _LazyModule(name)
