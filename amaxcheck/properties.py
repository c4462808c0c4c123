"""Metamorphic properties of ideal inputs, ready to use in hypothesis tests.

Each function synthesizes what it needs (through the cache of
:func:`amaxcheck.strategies.cached_synthesize`, so a property and the test
around it share ascents), measures, and returns a :class:`PropertyOutcome`:
truthy when the property holds, with the numbers and a message that says
how to reproduce it. ``.check()`` raises ``AssertionError`` with that message::

    from hypothesis import given
    import amaxcheck.strategies as ast
    from amaxcheck import properties

    @given(classes=ast.target_class_lists(model), settings=ast.ascent_settings())
    @ast.slow_settings()
    def test_quantization(classes, settings):
        properties.survives_quantization(model, classes, settings).check()

The properties, and where they hold (measured on the bundled digits CNN):

* :func:`tv_reduces_high_frequency`: raising the total-variation weight does
  not raise the high-frequency share of the ideal inputs' power
  (:func:`amaxcheck.stats.high_frequency_ratio`). It is a tendency over
  samples, not a law per sample: with random transforms one sample's ratio can
  rise by up to ~0.04 when the weight grows by 0.1-0.5, a mean over a class's
  restarts by ~0.02, hence the mean over all samples and ``tolerance=0.02``.
* :func:`survives_quantization`: an input classified ``c`` is still
  classified ``c`` after rounding to 256 levels (saving it as an 8-bit PNG).
* :func:`restarts_agree_more_than_twin`: restarts of a trained model's class
  agree (:func:`amaxcheck.stats.restart_agreement`) more than those of its
  shuffled-weights twin (:func:`amaxcheck.shuffled_twin`). Holds in pixel
  space without transforms (every class, every seed measured); with the
  Fourier parameterization and transforms the twin's restarts converge to the
  same smooth pattern and agree *more* (0.85-0.94 against 0.64-0.76), so
  those settings are refused rather than reported as failures.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:  # hypothesis is an extra: pip install 'amaxcheck[hypothesis]'
    import hypothesis  # noqa: F401  (amaxcheck.strategies, imported below, needs it)
except ImportError as _exc:
    from ._extras import missing_extra

    raise missing_extra("hypothesis", "hypothesis", "amaxcheck.properties", _exc) from _exc

from . import _cache
from .ascent.transforms import Transforms
from .errors import ConfigError
from .strategies import AscentSettings, _note, _plain, cached_synthesize, reproduce

__all__ = ["PropertyOutcome", "restarts_agree_more_than_twin", "survives_quantization", "tv_reduces_high_frequency"]


@dataclass(frozen=True)
class PropertyOutcome:
    """Whether a property held, the measured numbers, and a message for a failure report."""

    name: str
    holds: bool
    message: str
    measured: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.holds

    def check(self) -> PropertyOutcome:
        """Raise ``AssertionError(message)`` unless the property holds; return ``self`` otherwise."""
        if not self.holds:
            raise AssertionError(self.message)
        return self


def _outcome(name: str, holds: bool, detail: str, measured: dict, settings: AscentSettings, classes: Any,
             labels: Sequence[str] | None, kwargs: dict) -> PropertyOutcome:
    repro = reproduce(settings, _plain(classes), labels=labels, **kwargs)
    verdict = "holds" if holds else "does NOT hold"
    message = f"{name} {verdict}: {detail}\n  settings: {settings!r}\n  reproduce with: {repro}"
    _note(f"amaxcheck property {name}: {'holds' if holds else 'FAILS'}; {detail}")
    return PropertyOutcome(name, bool(holds), message, measured)


def _labels_of(result, indices) -> list[str]:
    return [result.label_of(int(c)) for c in indices]


# --------------------------------------------------------------------------- TV smoothing
def tv_reduces_high_frequency(model: Any, classes: Any, settings: AscentSettings, *, more: float = 0.5,
                              tolerance: float = 0.02, labels: Sequence[str] | None = None,
                              **synthesize_kwargs: Any) -> PropertyOutcome:
    """More TV weight does not increase the high-frequency share of the ideal inputs.

    Synthesizes ``classes`` with ``settings`` and again with ``tv_weight +
    more`` (same seed, so the same starts and transforms), and compares the
    mean :func:`~amaxcheck.stats.high_frequency_ratio` over all samples:
    holds when ``mean(more TV) <= mean(settings) + tolerance``.
    """
    from .verdict.stats import as_unit, high_frequency_ratio

    if not more > 0:
        raise ConfigError(f"more must be a positive increase of the TV weight, got {more!r}")
    smoother = settings.replace(tv_weight=round(settings.tv_weight + more, 6))

    def mean_hf(s: AscentSettings) -> tuple[float, list[float]]:
        r = cached_synthesize(model, classes, s, labels=labels, **synthesize_kwargs)
        values = [high_frequency_ratio(as_unit(x, r.input_range)) for x in r.images]
        return float(np.mean(values)), values

    low, low_each = mean_hf(settings)
    high, high_each = mean_hf(smoother)
    holds = high <= low + tolerance
    detail = (f"mean high-frequency ratio {low:.4f} at tv_weight={settings.tv_weight:g}, {high:.4f} at "
              f"tv_weight={smoother.tv_weight:g} (allowed increase {tolerance:g})")
    return _outcome("tv_reduces_high_frequency", holds, detail,
                    {"low": low, "high": high, "low_each": low_each, "high_each": high_each},
                    settings, classes, labels, synthesize_kwargs)


# --------------------------------------------------------------------------- quantization
def survives_quantization(model: Any, classes: Any, settings: AscentSettings, *, levels: int = 256,
                          labels: Sequence[str] | None = None, **synthesize_kwargs: Any) -> PropertyOutcome:
    """The ideal input of class ``c`` is still classified ``c`` after rounding to ``levels`` values (uint8).

    Fails for a class none of whose restarts the model classifies as ``c``
    in the first place (then there is no ideal input of ``c`` to speak of),
    and for any restart whose class changes when quantized.
    """
    from .verdict.stats import quantize

    result = cached_synthesize(model, classes, settings, labels=labels, **synthesize_kwargs)
    q = quantize(result.images, result.input_range, levels=levels)
    from .ascent.engine import adapter_for

    adapter = adapter_for(model, result.config)
    before = result.probabilities.argmax(axis=1)
    after = adapter.probabilities(q).argmax(axis=1)
    never, flipped = [], []
    for c in result.class_indices:
        mask = result.classes == c
        if not np.any(before[mask] == c):
            never.append(c)
        for i in np.flatnonzero(mask & (before == c) & (after != c)):
            flipped.append((int(c), int(result.restarts[i]), int(after[i])))
    holds = not never and not flipped
    parts = []
    if never:
        parts.append(f"no restart of class(es) {_labels_of(result, never)} is classified as its class even before "
                     "quantization (the ascent never reached it)")
    if flipped:
        changes = ", ".join(f"class {result.label_of(c)} restart {r} becomes {result.label_of(a)}"
                            for c, r, a in flipped)
        parts.append(f"quantized to {levels} levels, {changes}")
    if not parts:
        parts.append(f"every restart classified as its class stays so after quantization to {levels} levels")
    return _outcome("survives_quantization", holds, "; ".join(parts),
                    {"never_reached": never, "flipped": flipped}, settings, classes, labels, synthesize_kwargs)


# --------------------------------------------------------------------------- twin agreement
def _twin(model: Any, seed: int) -> Any:
    """One shuffled twin per (model, seed), kept with the model's engines: a new twin object would recompile
    the engine every example. The twin holds no reference to the model, so both go when the model goes."""
    from .verdict.controls import shuffled_twin

    return _cache.ENGINES.get_or_build(model, ("shuffled_twin", int(seed)), lambda: shuffled_twin(model, seed=seed))


def restarts_agree_more_than_twin(model: Any, classes: Any, settings: AscentSettings, *, twin: Any = None,
                                  twin_seed: int = 0, margin: float = 0.0, labels: Sequence[str] | None = None,
                                  **synthesize_kwargs: Any) -> PropertyOutcome:
    """Restarts of each class agree more for ``model`` than for its shuffled-weights twin.

    Agreement is :func:`~amaxcheck.stats.restart_agreement` (mean pairwise
    correlation of the restarts); holds when, for every class, the model's
    exceeds the twin's by more than ``margin``. ``twin`` defaults to
    :func:`amaxcheck.shuffled_twin(model, seed=twin_seed) <amaxcheck.shuffled_twin>`
    (built once per model and seed). Needs ``restarts >= 2``, pixel
    parameterization and no transforms (see the module docstring for why).
    """
    from .verdict.stats import restart_agreement

    if settings.restarts < 2:
        raise ConfigError(
            f"restart agreement needs at least 2 restarts, settings have {settings.restarts}; "
            "draw ascent_settings(restarts=st.integers(2, 3))"
        )
    no_transforms = isinstance(settings.transforms, Transforms) and not settings.transforms.active
    if getattr(settings.parameterization, "name", None) != "pixel" or not no_transforms:
        raise ConfigError(
            "restart agreement separates a trained model from its shuffled twin only in pixel space without "
            f"transforms (got parameterization={settings.parameterization!r}, transforms={settings.transforms!r}): "
            "with Fourier images or random transforms the twin's restarts converge to one smooth pattern. "
            "Draw ascent_settings(parameterization='pixel', transforms=Transforms())"
        )
    twin = _twin(model, twin_seed) if twin is None else twin
    mine = cached_synthesize(model, classes, settings, labels=labels, **synthesize_kwargs)
    theirs = cached_synthesize(twin, classes, settings, labels=labels, **synthesize_kwargs)
    rows, bad = [], []
    for c in mine.class_indices:
        a = restart_agreement(mine.images[mine.classes == c])
        b = restart_agreement(theirs.images[theirs.classes == c])
        rows.append((c, a, b))
        if not a > b + margin:  # NaN (constant images) counts as not agreeing
            bad.append((c, a, b))
    holds = not bad
    table = ", ".join(f"class {mine.label_of(c)}: {a:.3f} vs twin {b:.3f}" for c, a, b in (bad or rows))
    detail = ("restart agreement " + ("does not exceed the twin's" if bad else "exceeds the twin's")
              + (f" by more than {margin:g}" if margin else "") + f" ({table})")
    return _outcome("restarts_agree_more_than_twin", holds, detail,
                    {"agreement": {c: a for c, a, _ in rows}, "twin_agreement": {c: b for c, _, b in rows}},
                    settings, classes, labels, synthesize_kwargs)
