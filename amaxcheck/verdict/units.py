"""Checks on the ideal inputs of a layer's units (layer mode): what applies to a unit, and no class verdict.

:func:`amaxcheck.check` hands a layer-mode result here. Per unit:

* the **activation reached** by its best restart (the unit's mean activation over
  the feature map, as the ascent maximized it) against a **baseline**: the same
  unit's mean activation on the reference images if given, else on a mid-grey
  image; as the values and their ratio. The ``activation`` check passes when the
  activation rose above the baseline;
* the image statistics of the best restart (:mod:`amaxcheck.stats`) and, with
  ``stat_bounds``, checks on them;
* **restart agreement**: the mean pairwise correlation of what the ascent added
  to each restart's random start (``restart_agreement``; NaN for one restart).

The layer gets no verdict (``verdict`` is ``None``, with ``verdict_reason``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ArgumentTypeError, ConfigError, DataError
from . import stats as S
from .checks import _resolve_bounds, _stat_checks, ascent_delta, validate_reference
from .report import FAIL, PASS, CheckResult
from .unit_report import LayerReport, UnitReport

#: statistics ``stat_bounds`` may bound for a unit
UNIT_STATS = S.SPATIAL_STATS + S.RANGE_STATS + ("restart_agreement",)


def check_units(result: Any, model: Any = None, *, reference: Any = None,
                stat_bounds: Mapping[str, Any] | None = None) -> LayerReport:
    """Check a layer-mode :class:`~amaxcheck.ascent.result.SynthesisResult`; see the module doc.

    ``model`` defaults to the result's model while it is alive; it is needed for
    the baselines. ``reference``: images in the model's raw input range (labels are
    not used: a unit has no class).
    """
    _validate(result, stat_bounds)
    model = model if model is not None else result.model
    if result.config is None:
        raise ConfigError("this layer-mode result carries no AscentConfig, so its layer cannot be read again; "
                          "check the result synthesize(model, layer=...) returned")
    if model is None:
        raise ConfigError(f"checking the units of layer {result.layer!r} needs the model for their baselines, and "
                          "the result's model is gone; pass it: check(result, model)")
    baseline_images, source = _baseline_images(result, reference)
    baselines = _mean_channel_activation(result, model, baseline_images)
    bounds = _resolve_bounds(stat_bounds, reference, result)
    reports = [_unit_report(result, view, float(baselines[view.unit]), source, bounds)
               for view in result.unit_views()]
    return LayerReport(layer=str(result.layer), units=reports, baseline=source, result=result)


def _validate(result: Any, stat_bounds: Mapping[str, Any] | None) -> None:
    from ..ascent.result import SynthesisResult

    if not isinstance(result, SynthesisResult) or result.mode != "layer":
        raise ArgumentTypeError("check_units takes a layer-mode SynthesisResult (synthesize(model, layer=...))")
    if not np.all(np.isfinite(result.images)):
        raise DataError("the result's images contain NaN/Inf; synthesize again (see AscentDivergedError for the cause)")
    unknown = set(stat_bounds or {}) - set(UNIT_STATS)
    if unknown:
        raise ConfigError(f"unknown statistics in stat_bounds for units: {sorted(unknown)}; known: {sorted(UNIT_STATS)}")


def _baseline_images(result: Any, reference: Any) -> tuple[np.ndarray, str]:
    """The images the baselines are measured on, and how the report names them."""
    if reference is not None:
        x, _ = validate_reference(reference, None, result.input_shape, result.input_range, result.n_classes)
        return x, f"the reference images (n={len(x)})"
    lo, hi = result.input_range
    grey = np.full((1, *result.input_shape), 0.5 * (lo + hi), np.float32)
    return grey, f"a mid-grey image ({0.5 * (lo + hi):g})"


def _mean_channel_activation(result: Any, model: Any, images: np.ndarray) -> np.ndarray:
    """Each unit's channel mean of the result's layer, averaged over ``images``: ``(n_units,)``."""
    from ..ascent.engine import engine_for
    from ..ascent.layer_mode import LAYER, channel_means

    engine = engine_for(model, result.config, LAYER)  # the engine that made the result (cached): its adapter taps the layer
    return channel_means(engine.adapter, result.layer, images, result.config.preprocess).mean(axis=0)


def _unit_report(result: Any, view: Any, baseline: float, source: str,
                 bounds: Mapping[str, tuple[float | None, float | None]]) -> UnitReport:
    activation = view.best_activation
    ratio = activation / baseline if baseline > 0 else float("nan")
    rose = activation > baseline
    shown = f", {ratio:.2f}x" if np.isfinite(ratio) else ""
    checks = [CheckResult(
        "activation", PASS if rose else FAIL, activation, baseline,
        f"activation {activation:.4g} {'>' if rose else '<='} baseline {baseline:.4g} (the unit's mean on {source}"
        f"{shown})" + ("" if rose else ": the ascent found no input raising this unit above its baseline (a dead unit, or one "
                           "its starts never activate: try more restarts)"))]
    st = S.image_stats(view.best_image, result.input_range)
    st["restart_agreement"] = S.restart_agreement(ascent_delta(result, result.units == view.unit))
    checks += _stat_checks(st, bounds)
    return UnitReport(unit=view.unit, activation=activation, baseline=baseline, ratio=ratio, best=view.best,
                      stats=st, checks=checks, image=view.best_image)
