"""amaxcheck: test trained Keras classifiers through the inputs each class wants most.

    >>> import amaxcheck
    >>> result = amaxcheck.synthesize(model, classes="all")
    >>> report = amaxcheck.check(result, model)
    >>> amaxcheck.assert_not_degenerate(report)

Layer visualization (the filter grid of a layer; no class verdict)::

    >>> units = amaxcheck.synthesize(model, layer="conv2", units="all")
    >>> amaxcheck.check(units, model).table()  # activation reached per unit

Where things live (each package has one job):

* :mod:`amaxcheck.ascent` -- synthesizing ideal inputs: the model adapter,
  objectives, parameterizations, transforms, :class:`AscentConfig` and the one
  compiled engine behind :func:`synthesize`;
* :mod:`amaxcheck.verdict` -- judging them: image statistics, controls, the
  signals and :func:`check`, and the report data;
* :mod:`amaxcheck.output` -- showing them: the JSON/JUnit/Markdown/HTML/terminal
  renderers, artifacts, baselines;
* the faces on top: :mod:`amaxcheck.cli` (the gate), :mod:`amaxcheck.pytest_plugin`,
  :mod:`amaxcheck.strategies` (hypothesis), :mod:`amaxcheck.assertions`;
* at the root: :mod:`amaxcheck.defaults`, :mod:`amaxcheck.errors`, and the
  private validation (``_validate``) and cache (``_cache``) every part shares.

The names below are loaded lazily, so ``import amaxcheck`` (and the pytest
plugin) costs nothing until TensorFlow is actually needed; type checkers and
IDEs see them through the ``TYPE_CHECKING`` imports.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AmaxcheckError",
    "ArgumentTypeError",
    "AscentConfig",
    "AscentDivergedError",
    "BaselineError",
    "CheckResult",
    "ClassReport",
    "ClassSelectionError",
    "ConfigError",
    "DataError",
    "InputRangeError",
    "LayerReport",
    "ModelError",
    "ModelLoadError",
    "NoGradientError",
    "ReferenceDataError",
    "Report",
    "SynthesisResult",
    "Transforms",
    "TriggerReport",
    "TriggerResult",
    "TriggerSettings",
    "UnitReport",
    "UnitSelectionError",
    "UnitView",
    "UnsafeModelError",
    "__version__",
    "assert_confident",
    "assert_in_top_k",
    "assert_naturalness",
    "assert_no_trigger",
    "assert_not_degenerate",
    "assert_stats_within",
    "check",
    "each_class",
    "errors",
    "judge_triggers",
    "learned_nothing_control",
    "load_model",
    "objectives",
    "reinitialized_twin",
    "resolve_classes",
    "reverse_triggers",
    "shuffled_twin",
    "stats",
    "strategies",
    "synthesize",
    "write_html_report",
]

# public name -> module that defines it (None: the name is a module of its own)
_LAZY = {
    "synthesize": "ascent.engine",
    "resolve_classes": "ascent.engine",
    "AscentConfig": "ascent.config",
    "SynthesisResult": "ascent.result",
    "UnitView": "ascent.result",
    "Transforms": "ascent.transforms",
    "objectives": None,
    "stats": None,
    "errors": None,
    "strategies": None,
    "check": "verdict.checks",
    "Report": "verdict.report",
    "ClassReport": "verdict.report",
    "CheckResult": "verdict.report",
    "LayerReport": "verdict.unit_report",
    "UnitReport": "verdict.unit_report",
    "shuffled_twin": "verdict.controls",
    "reinitialized_twin": "verdict.controls",
    "learned_nothing_control": "verdict.controls",
    "assert_naturalness": "assertions",
    "assert_confident": "assertions",
    "assert_in_top_k": "assertions",
    "assert_stats_within": "assertions",
    "assert_not_degenerate": "assertions",
    "assert_no_trigger": "assertions",
    "each_class": "pytest_plugin",
    "reverse_triggers": "ascent.triggers",
    "TriggerSettings": "ascent.triggers",
    "TriggerResult": "ascent.triggers",
    "judge_triggers": "verdict.triggers",
    "TriggerReport": "verdict.triggers",
    "load_model": "loading",
    "write_html_report": "output.figures",
    **{name: "errors" for name in (
        "AmaxcheckError", "ArgumentTypeError", "ModelError", "ClassSelectionError", "NoGradientError",
        "AscentDivergedError", "ModelLoadError", "UnsafeModelError", "ReferenceDataError", "DataError",
        "BaselineError", "ConfigError", "InputRangeError", "UnitSelectionError")},
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'amaxcheck' has no attribute {name!r}")
    module_name = _LAZY[name] or name
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import errors, objectives, stats, strategies
    from .ascent.config import AscentConfig
    from .ascent.engine import resolve_classes, synthesize
    from .ascent.result import SynthesisResult, UnitView
    from .ascent.transforms import Transforms
    from .ascent.triggers import TriggerResult, TriggerSettings, reverse_triggers
    from .assertions import (
        assert_confident,
        assert_in_top_k,
        assert_naturalness,
        assert_no_trigger,
        assert_not_degenerate,
        assert_stats_within,
    )
    from .errors import (
        AmaxcheckError,
        ArgumentTypeError,
        AscentDivergedError,
        BaselineError,
        ClassSelectionError,
        ConfigError,
        DataError,
        InputRangeError,
        ModelError,
        ModelLoadError,
        NoGradientError,
        ReferenceDataError,
        UnitSelectionError,
        UnsafeModelError,
    )
    from .loading import load_model
    from .output.figures import write_html_report
    from .pytest_plugin import each_class
    from .verdict.checks import check
    from .verdict.controls import learned_nothing_control, reinitialized_twin, shuffled_twin
    from .verdict.report import CheckResult, ClassReport, Report
    from .verdict.triggers import TriggerReport, judge_triggers
    from .verdict.unit_report import LayerReport, UnitReport
