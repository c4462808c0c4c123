"""amaxcheck: test trained Keras classifiers through the inputs each class wants most.

The top-level names are loaded lazily, so ``import amaxcheck`` (and the pytest
plugin) costs nothing until TensorFlow is actually needed.

    >>> import amaxcheck
    >>> result = amaxcheck.synthesize(model, classes="all")
    >>> report = amaxcheck.check(result, model)
    >>> amaxcheck.assert_not_degenerate(report)
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "synthesize": "ascent.engine",
    "resolve_classes": "ascent.engine",
    "SynthesisResult": "ascent.result",
    "Transforms": "ascent.transforms",
    "objectives": None,
    "stats": None,
    "errors": None,
    "strategies": None,
    "check": "verdict.checks",
    "Report": "verdict.checks",
    "ClassReport": "verdict.checks",
    "CheckResult": "verdict.checks",
    "shuffled_twin": "verdict.controls",
    "assert_confident": "assertions",
    "assert_in_top_k": "assertions",
    "assert_stats_within": "assertions",
    "assert_not_degenerate": "assertions",
    "load_model": "loading",
    "AmaxcheckError": "errors",
    "ModelError": "errors",
    "ClassSelectionError": "errors",
    "NoGradientError": "errors",
    "AscentDivergedError": "errors",
    "ModelLoadError": "errors",
    "UnsafeModelError": "errors",
    "ReferenceDataError": "errors",
    "DataError": "errors",
    "BaselineError": "errors",
    "ConfigError": "errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'amaxcheck' has no attribute {name!r}")
    module_name = _LAZY[name] or name
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import errors, objectives, stats, strategies
    from .assertions import assert_confident, assert_in_top_k, assert_not_degenerate, assert_stats_within
    from .verdict.checks import CheckResult, ClassReport, Report, check
    from .verdict.controls import shuffled_twin
    from .ascent.engine import resolve_classes, synthesize
    from .errors import *  # noqa: F401,F403
    from .loading import load_model
    from .ascent.result import SynthesisResult
    from .ascent.transforms import Transforms
