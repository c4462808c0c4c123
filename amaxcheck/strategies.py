"""Hypothesis strategies for property-based tests of trained classifiers.

Say "for every class and every seed, the ideal input is confident" and let
hypothesis find the class and settings that break it, then shrink them to
the simplest ones::

    import amaxcheck.strategies as ast
    from hypothesis import given

    @given(result=ast.synthesized(model))
    @ast.slow_settings()
    def test_ideal_inputs_are_confident(result):
        for view in result:
            assert view.confidence.max() > 0.9, f"class {view.label} never gets confident"

Every strategy is a composable value, like hypothesis' own: each argument
of :func:`ascent_settings` and :func:`synthesized` takes a strategy or a
plain value, and the results combine with ``.map``, ``.filter``, ``st.one_of``.

What they draw
--------------
* :func:`target_classes` / :func:`target_class_lists`: classes of a model,
  by index or by label. Lists shrink to the single culprit class.
* :func:`seeds`, :func:`steps`, :func:`restarts`, :func:`tv_weights`,
  :func:`learning_rates`, :func:`transforms`, :func:`parameterizations`:
  one ascent setting each, within ranges that make sense.
* :func:`ascent_settings`: an :class:`AscentSettings` (``st.builds``), the
  full set of ascent settings; shrinks toward the fewest steps and restarts,
  seed 0, and otherwise the engine's defaults.
* :func:`synthesized`: a :class:`~amaxcheck.SynthesisResult` for a model,
  cached by (model, classes, settings) so that shrinking, which replays the
  same draws many times, never reruns an identical ascent.

Slow-test hygiene
-----------------
Synthesis happens while hypothesis *generates* data, and the first call on a
model traces a ``tf.function`` (seconds). So tests need no deadline, few
examples and ``HealthCheck.too_slow`` suppressed. Importing this module
registers two profiles:

* ``"amaxcheck"``: no deadline, ``max_examples=5``, ``too_slow`` suppressed;
* ``"amaxcheck-ci"``: the same on top of hypothesis' built-in ``"ci"`` profile
  (derandomized, no example database, prints reproduction blobs); on hypothesis
  versions without one, on the same settings built here.

Load one with ``pytest -p amaxcheck.strategies --hypothesis-profile=amaxcheck``
(``-p`` imports this module before hypothesis looks the profile up; an
``import amaxcheck.strategies`` in your root ``conftest.py`` does the same),
or decorate single tests with :func:`slow_settings`, which keeps whatever
profile is active (so ``--hypothesis-profile=ci`` still derandomizes) and
only overrides what slow tests need.

Reproducibility
---------------
The drawn seed is :func:`amaxcheck.synthesize`'s ``seed``, which drives every
random number of the ascent; the engine is bit-deterministic on CPU for the
same model, seed and settings. Drawn settings print as valid Python
(``AscentSettings(steps=32, ...)``) and :func:`synthesized` adds a note with
the exact ``amaxcheck.synthesize(...)`` call, so a falsifying example can be
rerun outside hypothesis.

This module imports no TensorFlow at import time (only when a strategy that
needs a model or :class:`~amaxcheck.Transforms` is built).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:  # hypothesis is an extra: pip install 'amaxcheck[hypothesis]'
    from hypothesis import HealthCheck, note, settings
    from hypothesis import strategies as st
    from hypothesis.errors import HypothesisDeprecationWarning, InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ImportError as _exc:
    from ._extras import missing_extra

    raise missing_extra("hypothesis", "hypothesis", "amaxcheck.strategies", _exc) from _exc

from . import _cache
from . import defaults as D
from .ascent.config import FIELDS, AscentConfig
from .ascent.result import SynthesisResult
from .ascent.transforms import Transforms
from .errors import ConfigError

__all__ = [
    "CI_PROFILE",
    "DEFAULT_MAX_EXAMPLES",
    "PROFILE",
    "AscentSettings",
    "DrawnResult",
    "ascent_settings",
    "cache_info",
    "cached_synthesize",
    "clear_cache",
    "learning_rates",
    "parameterizations",
    "register_profiles",
    "reproduce",
    "restarts",
    "seeds",
    "slow_settings",
    "steps",
    "synthesized",
    "target_class_lists",
    "target_classes",
    "transforms",
    "tv_weights",
]

#: name of the registered settings profile for tests that synthesize
PROFILE = "amaxcheck"
#: the same, on top of hypothesis' built-in "ci" profile (derandomized)
CI_PROFILE = "amaxcheck-ci"
#: examples per test in the profiles: each one runs at least one ascent
DEFAULT_MAX_EXAMPLES = 5

_PARAMETERIZATIONS = ("pixel", "fourier")


# --------------------------------------------------------------------------- settings profiles
def _slow_overrides(parent: settings) -> dict[str, Any]:
    suppressed = list(dict.fromkeys([*parent.suppress_health_check, HealthCheck.too_slow]))
    return {"deadline": None, "suppress_health_check": suppressed}


def register_profiles() -> None:
    """(Re)register the ``"amaxcheck"`` and ``"amaxcheck-ci"`` profiles (done on import).

    ``"amaxcheck-ci"`` builds on hypothesis' ``"ci"`` profile; hypothesis versions
    without a built-in one (6.80 to at least 6.110) get the same settings built here:
    derandomized, no example database, no deadline, reproduction blobs printed.
    """
    default = settings.get_profile("default")
    with warnings.catch_warnings():
        # hypothesis warns when profiles are registered while an @settings is active,
        # which happens if this module is first imported inside a running test.
        warnings.simplefilter("ignore", HypothesisDeprecationWarning)
        try:
            ci = settings.get_profile("ci")
        except InvalidArgument:  # "Profile 'ci' is not registered"
            ci = settings(default, derandomize=True, database=None, deadline=None, print_blob=True)
        settings.register_profile(PROFILE, parent=default, max_examples=DEFAULT_MAX_EXAMPLES,
                                  **_slow_overrides(default))
        settings.register_profile(CI_PROFILE, parent=ci, max_examples=DEFAULT_MAX_EXAMPLES, **_slow_overrides(ci))


register_profiles()


def slow_settings(max_examples: int = DEFAULT_MAX_EXAMPLES, *, parent: settings | None = None,
                  **overrides: Any) -> settings:
    """Settings for a test that synthesizes: no deadline, ``max_examples`` examples, ``too_slow`` suppressed.

    Everything else comes from ``parent``, by default the profile active when
    this is called (at decoration time), so ``--hypothesis-profile=ci`` still
    derandomizes and drops the example database. Use as a decorator::

        @given(result=synthesized(model))
        @slow_settings(max_examples=3)
        def test_something(result): ...
    """
    parent = settings.default if parent is None else parent
    assert parent is not None  # hypothesis always has a default profile
    kwargs = {"max_examples": max_examples, **_slow_overrides(parent)}
    kwargs.update(overrides)
    return settings(parent, **kwargs)


# --------------------------------------------------------------------------- drawn settings
#: what :func:`ascent_settings` draws: an :class:`~amaxcheck.ascent.config.AscentConfig` (the name is kept for
#: code written against amaxcheck 0.1)
AscentSettings = AscentConfig


def _plain(value: Any) -> Any:
    """Python ints/strs/lists instead of NumPy scalars, for readable reprs."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------- small strategies
_UNSET: Any = object()


def _strategy(value: Any, default: Callable[[], SearchStrategy]) -> SearchStrategy:
    """A strategy from ``value``: itself if it is one, ``default()`` if unset, else ``st.just(value)``."""
    if value is _UNSET:
        return default()
    if isinstance(value, SearchStrategy):
        return value
    return st.just(value)


def _check_range(name: str, lo: float, hi: float, floor: float) -> None:
    if not (floor <= lo <= hi):
        raise InvalidArgument(f"{name}: need {floor} <= min_value <= max_value, got min_value={lo!r}, max_value={hi!r}")


def seeds(min_value: int = 0, max_value: int = 2**32 - 1) -> SearchStrategy[int]:
    """Seeds for :func:`amaxcheck.synthesize` (they drive every random number of the ascent). Shrinks to 0."""
    _check_range("seeds", min_value, max_value, 0)
    return st.integers(min_value, max_value)


def steps(min_value: int = 32, max_value: int = 128, *, multiple_of: int = 16) -> SearchStrategy[int]:
    """Ascent steps, multiples of ``multiple_of`` in ``[min_value, max_value]``. Shrinks to the fewest.

    Multiples of the engine's ``check_every`` (16) keep every compiled chunk the
    same length, so different step counts never retrace the ``tf.function``.
    """
    _check_range("steps", min_value, max_value, 1)
    if multiple_of < 1:
        raise InvalidArgument(f"steps: multiple_of must be >= 1, got {multiple_of!r}")
    lo, hi = -(-min_value // multiple_of), max_value // multiple_of
    if lo > hi:
        raise InvalidArgument(
            f"steps: no multiple of {multiple_of} lies in [{min_value}, {max_value}]; widen the range or pass multiple_of=1"
        )
    return st.integers(lo, hi).map(lambda k: k * multiple_of)


def restarts(min_value: int = 1, max_value: int = 3) -> SearchStrategy[int]:
    """Restarts per class (batched together, so 2-3 cost little more than 1). Shrinks to the fewest."""
    _check_range("restarts", min_value, max_value, 1)
    return st.integers(min_value, max_value)


def tv_weights(choices: Sequence[float] = (D.TV_WEIGHT, 0.0, 0.02, 0.1, 0.2, 0.5)) -> SearchStrategy[float]:
    """Total-variation weights, from a small grid. Shrinks toward the first (the engine's default, 0.05).

    A grid rather than a continuous range: the weight is compiled into the
    ascent's ``tf.function``, so every distinct value costs one trace
    (about half a second on a small CNN, several on large models).
    """
    values = [float(c) for c in choices]
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise InvalidArgument(f"tv_weights: choices must be non-empty numbers >= 0, got {list(choices)!r}")
    return st.sampled_from(values)


def learning_rates(choices: Sequence[float] = (D.LEARNING_RATE, 0.02, 0.1, 0.2)) -> SearchStrategy[float]:
    """Adam step sizes from a small grid; shrinks toward the first (the engine's default, 0.05).

    A grid keeps falsifying examples readable and shrinking short (every
    shrink attempt is an ascent). For a continuous range pass
    ``learning_rate=st.floats(0.01, 0.2)`` to :func:`ascent_settings`: the
    learning rate is a tensor argument of the compiled loop, so any value is free.
    """
    values = [float(c) for c in choices]
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise InvalidArgument(f"learning_rates: choices must be non-empty positive numbers, got {list(choices)!r}")
    return st.sampled_from(values)


def transforms(
    *,
    jitter: Sequence[float] = (0.0, 1.0, 2.0),
    scale: Sequence[tuple[float, float]] = ((1.0, 1.0), (0.95, 1.05), (0.9, 1.1)),
    rotate: Sequence[float] = (0.0, 5.0, 10.0),
    blur: Sequence[float] = (0.0, 0.5),
    auto: bool = True,
    none: bool = True,
) -> SearchStrategy[str | Transforms]:
    """Per-step random transforms: ``"auto"`` (the engine's default), none, or a ``Transforms(...)`` from the grids.

    Shrinks toward ``"auto"``, then ``Transforms()`` (none). Jitter is in
    pixels, so the default grid suits small images; pass larger values for
    ImageNet-sized inputs. Like TV weights, each distinct value costs one trace.
    """
    grids = {"jitter": jitter, "scale": scale, "rotate": rotate, "blur": blur}
    for name, grid in grids.items():
        if not list(grid):
            raise InvalidArgument(f"transforms: {name} needs at least one choice")
    built = st.builds(
        Transforms,
        jitter=st.sampled_from([float(v) for v in jitter]),
        scale=st.sampled_from([(float(a), float(b)) for a, b in scale]),
        rotate=st.sampled_from([float(v) for v in rotate]),
        blur=st.sampled_from([float(v) for v in blur]),
    )
    options: list[SearchStrategy] = []
    if auto:
        options.append(st.just("auto"))
    if none:
        options.append(st.just(Transforms()))
    return st.one_of(*options, built)


def parameterizations(choices: Sequence[str] = _PARAMETERIZATIONS) -> SearchStrategy[str]:
    """``"pixel"`` or ``"fourier"``; shrinks toward the first (pixel, the engine's default)."""
    bad = [c for c in choices if c not in _PARAMETERIZATIONS]
    if not choices or bad:
        raise InvalidArgument(f"parameterizations: choices must be a non-empty subset of {_PARAMETERIZATIONS}, got {list(choices)!r}")
    return st.sampled_from(list(choices))


def ascent_settings(
    *,
    steps: Any = _UNSET,
    restarts: Any = _UNSET,
    seed: Any = _UNSET,
    tv_weight: Any = _UNSET,
    transforms: Any = _UNSET,
    parameterization: Any = _UNSET,
    learning_rate: Any = _UNSET,
) -> SearchStrategy[AscentSettings]:
    """Complete ascent settings (``st.builds(AscentSettings, ...)``).

    Every argument takes a strategy or a plain value (fixed); left out, it
    uses this module's strategy of the same name with its default range. The
    drawn value shrinks toward the fewest steps and restarts, seed 0, and
    the engine's defaults for the rest::

        ascent_settings(steps=64, restarts=st.integers(1, 2), parameterization="pixel")
    """
    g = globals()  # the arguments shadow the strategies of the same name
    return st.builds(
        AscentSettings,
        steps=_strategy(steps, g["steps"]),
        restarts=_strategy(restarts, g["restarts"]),
        seed=_strategy(seed, seeds),
        tv_weight=_strategy(tv_weight, tv_weights),
        transforms=_strategy(transforms, g["transforms"]),
        parameterization=_strategy(parameterization, parameterizations),
        learning_rate=_strategy(learning_rate, learning_rates),
    )


# --------------------------------------------------------------------------- classes
def _n_classes(model: Any, model_kwargs: dict[str, Any]) -> int:
    if isinstance(model, (int, np.integer)) and not isinstance(model, bool):
        if model < 1:
            raise InvalidArgument(f"the number of classes must be >= 1, got {model!r}")
        return int(model)
    from .ascent.engine import adapter_for

    config, _ = _config_with(AscentConfig(), dict(model_kwargs))
    return adapter_for(_live_model(model), config).n_classes


def _model_free(model: Any, build: Callable[[], SearchStrategy]) -> SearchStrategy:
    """``build()`` now, or on first draw when ``model`` is a factory: no live model is needed at collection time."""
    if callable(model) and not hasattr(model, "layers") and not isinstance(model, (int, np.integer)):
        return st.deferred(build)
    return build()


def _class_pool(model: Any, labels: Sequence[str] | None, by: str, among: Sequence[Any] | None,
                model_kwargs: dict[str, Any]) -> tuple[list[int], list[str] | None]:
    """The class indices to draw from, and the labels (validated)."""
    n = _n_classes(model, model_kwargs)
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != n:
            raise InvalidArgument(
                f"labels has {len(labels)} names but the model has {n} classes; give one name per class, in index order"
            )
    if by not in ("index", "label", "either"):
        raise InvalidArgument(f"by must be 'index', 'label' or 'either', got {by!r}")
    if by != "index" and labels is None:
        raise InvalidArgument(f"by={by!r} needs labels=[...] (one name per class)")
    if among is None:
        return list(range(n)), labels
    from .ascent.engine import resolve_classes

    return resolve_classes(list(among), n, labels), labels


def _named(strategy: SearchStrategy, labels: list[str] | None, by: str, one: bool) -> SearchStrategy:
    """Indices as drawn, as labels, or either (shrinking toward indices)."""
    if by == "index" or labels is None:
        return strategy
    as_labels = strategy.map(lambda c: labels[c]) if one else strategy.map(lambda cs: [labels[c] for c in cs])
    return as_labels if by == "label" else st.one_of(strategy, as_labels)


def target_classes(model: Any, *, labels: Sequence[str] | None = None, by: str = "index",
                   among: Sequence[Any] | None = None, **model_kwargs: Any) -> SearchStrategy[int | str]:
    """One class of ``model`` (or of ``n`` classes if ``model`` is an int).

    ``by="index"`` draws ints (shrinking to the first class), ``"label"`` draws
    names from ``labels``, ``"either"`` both. ``among`` restricts the draw to
    some classes (indices or labels). ``model_kwargs`` (``output=``,
    ``input=``...) pick the class scores of multi-output models, as in
    :func:`amaxcheck.synthesize`.
    """
    def build() -> SearchStrategy:
        pool, names = _class_pool(model, labels, by, among, model_kwargs)
        return _named(st.sampled_from(pool), names, by, one=True)

    return _model_free(model, build)


def target_class_lists(model: Any, *, labels: Sequence[str] | None = None, by: str = "index",
                       among: Sequence[Any] | None = None, min_size: int = 1, max_size: int | None = None,
                       **model_kwargs: Any) -> SearchStrategy[list]:
    """Lists of distinct classes of ``model``, in index order; they shrink to the single class that fails.

    All classes of a list are synthesized in one batch, so a list of several
    classes costs little more than one, and a bad class turns up in far fewer
    examples than when drawing one class at a time. ``max_size`` defaults to
    ``min(number of classes, 10)``.

    When every class may be drawn at once (``max_size`` >= the number of
    classes), each class is in or out with even odds (in 10 examples a given
    class is missed about once in a thousand runs). Otherwise lists of up to
    ``max_size`` draws are deduplicated. Both encodings shrink cleanly to the
    culprit alone; hypothesis' unique lists do not (they stall at lists like
    ``[0, 1, 2, 3, 7]``, measured).
    """
    return _model_free(model, lambda: _class_lists(model, labels, by, among, min_size, max_size, model_kwargs))


def _class_lists(model: Any, labels: Sequence[str] | None, by: str, among: Sequence[Any] | None,
                 min_size: int, max_size: int | None, model_kwargs: dict[str, Any]) -> SearchStrategy[list]:
    pool, labels = _class_pool(model, labels, by, among, model_kwargs)
    if max_size is None:
        max_size = min(len(pool), 10)
    if min_size < 1 or max_size < min_size or min_size > len(pool):
        raise InvalidArgument(
            f"target_class_lists: need 1 <= min_size <= max_size and min_size <= {len(pool)} classes, "
            f"got min_size={min_size!r}, max_size={max_size!r}"
        )
    if max_size >= len(pool):
        # An all-out mask means the first class: the simplest draw is then [pool[0]].
        lists = st.lists(st.booleans(), min_size=len(pool), max_size=len(pool)).map(
            lambda mask: [c for c, keep in zip(pool, mask) if keep] or [pool[0]])
    else:
        lists = st.lists(st.sampled_from(pool), min_size=min_size, max_size=max_size).map(
            lambda drawn: sorted(set(drawn)))
    if min_size > 1:
        lists = lists.filter(lambda cs: len(cs) >= min_size)
    return _named(lists, labels, by, one=False)


# --------------------------------------------------------------------------- cached synthesis
def _config_with(settings: AscentConfig, kwargs: dict[str, Any]) -> tuple[AscentConfig, dict[str, Any]]:
    """``settings`` with the synthesize keywords that are settings (``input_range=``...) folded in; the rest."""
    if not isinstance(settings, AscentConfig):
        raise ConfigError(f"settings must be an AscentConfig (see ascent_settings()), got {type(settings).__name__}")
    folded = {k: v for k, v in kwargs.items() if k in FIELDS}
    rest = {k: v for k, v in kwargs.items() if k not in FIELDS}
    unknown = set(rest) - {"progress"}
    if unknown:
        raise ConfigError(f"unknown synthesize argument(s) {sorted(unknown)}; settings are {', '.join(FIELDS)}")
    return (settings.replace(**folded) if folded else settings), rest


def cached_synthesize(model: Any, classes: Any, settings: AscentConfig, *,
                      labels: Sequence[str] | None = None, **kwargs: Any) -> SynthesisResult:
    """:func:`amaxcheck.synthesize` with ``settings``, remembered in :data:`amaxcheck._cache.RESULTS`.

    The same model weights, classes, labels and settings return the very same
    result object, so hypothesis' shrinking and replay never rerun an identical
    ascent. Extra keywords that are settings (``input_range=``, ``output=``...)
    are folded into ``settings``. Results are read-only (their arrays are not
    writeable). A model whose weights changed gets new entries.
    """
    config, rest = _config_with(settings, kwargs)
    model = _live_model(model)
    return _cache.cached_synthesize(model, _class_key(classes, labels), config, labels=labels,
                                    progress=rest.get("progress", False))


def _class_key(classes: Any, labels: Sequence[str] | None) -> Any:
    items = [classes] if isinstance(classes, (int, np.integer, str)) else list(classes)
    out: list[Any] = []
    for c in items:
        if isinstance(c, str) and labels is not None and c in labels:
            out.append(list(labels).index(c))
        else:
            out.append(int(c) if isinstance(c, np.integer) else c)
    return out


def cache_info() -> dict[str, int]:
    """``{"hits", "misses", "size"}`` of the synthesis cache (all models)."""
    info = _cache.RESULTS.info()
    return {"hits": info["hits"], "misses": info["misses"], "size": info["size"]}


def clear_cache(model: Any = None) -> None:
    """Forget cached results (of one model's current weights, or of all) and reset the counters when clearing all."""
    if model is None:
        _cache.RESULTS.clear()
        return
    from .ascent.model_adapter import fingerprint

    digest = fingerprint(_live_model(model))
    _cache.RESULTS.discard(lambda key: isinstance(key, tuple) and key[0] == digest)


def _live_model(model: Any) -> Any:
    """The model itself, or what a zero-argument factory returns (called once, on first use)."""
    if callable(model) and not hasattr(model, "layers"):
        return _factory_model(model)
    return model


_FACTORIES: dict[Any, Any] = {}


def _factory_model(factory: Callable[[], Any]) -> Any:
    if factory not in _FACTORIES:
        _FACTORIES[factory] = factory()
    return _FACTORIES[factory]


def _note(message: str) -> None:
    """``hypothesis.note`` inside a test, nothing outside one."""
    try:
        note(message)
    except InvalidArgument:
        pass


def reproduce(settings: AscentConfig, classes: Any, *, model: str = "model",
              labels: Sequence[str] | None = None, **extra: Any) -> str:
    """The exact :func:`amaxcheck.synthesize` call that ``settings`` make, as Python source."""
    parts = [model, repr(_plain(classes)), f"config={settings!r}"]
    if labels is not None:
        parts.append(f"labels={list(labels)!r}")
    parts += [f"{name}={value!r}" for name, value in extra.items()]
    return ("from amaxcheck import synthesize, Transforms; from amaxcheck.ascent.config import AscentConfig; "
            "from amaxcheck.objectives import class_log_prob, total_variation; "
            f"synthesize({', '.join(parts)})")


class DrawnResult(SynthesisResult):
    """A :class:`~amaxcheck.SynthesisResult` drawn by :func:`synthesized`.

    The same result (it shares the cached arrays), plus ``drawn_classes`` and
    ``drawn_settings``; it prints as one line naming them, so a falsifying
    example shows how to reproduce it instead of every array element.
    """

    drawn_classes: Any
    drawn_settings: AscentSettings

    @classmethod
    def wrap(cls, result: SynthesisResult, classes: Any, settings: AscentSettings) -> DrawnResult:
        drawn = object.__new__(cls)
        drawn.__dict__.update(result.__dict__)
        drawn.drawn_classes = _plain(classes)
        drawn.drawn_settings = settings
        return drawn

    def __repr__(self) -> str:
        p = self.target_probability
        median = f"{np.median(p):.3f}" if len(p) else "nan"
        return (f"<SynthesisResult {self.model_name}: classes={self.drawn_classes!r}, "
                f"settings={self.drawn_settings!r}, target p median {median}>")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' and IPython's pretty printers
        printer.text(repr(self))


def synthesized(model: Any, classes: Any = _UNSET, settings: Any = _UNSET, *,
                labels: Sequence[str] | None = None, cache: bool = True,
                **synthesize_kwargs: Any) -> SearchStrategy[DrawnResult]:
    """Synthesized ideal inputs of ``model``: a strategy of :class:`DrawnResult` (a ``SynthesisResult``).

    ``classes`` (strategy or value) defaults to :func:`target_class_lists`
    (1 to 10 classes, shrinking to the one that fails); ``settings`` (strategy
    or :class:`AscentSettings`) defaults to :func:`ascent_settings`. Extra
    keyword arguments go to :func:`amaxcheck.synthesize` (``input_range=``,
    ``output=``, ...). Results are cached (see :func:`cached_synthesize`)
    unless ``cache=False``. The drawn classes and settings, and the exact
    ``synthesize(...)`` call, are added as notes, which hypothesis prints with
    a falsifying example.
    """
    class_strategy = _strategy(classes, lambda: target_class_lists(model, labels=labels, **synthesize_kwargs))
    settings_strategy = _strategy(settings, ascent_settings)
    extra = dict(synthesize_kwargs)
    extra.setdefault("progress", False)

    @st.composite
    def synthesized(draw: Any) -> DrawnResult:
        cls = draw(class_strategy)
        drawn = draw(settings_strategy)
        if not isinstance(drawn, AscentSettings):
            raise InvalidArgument(f"settings must draw AscentSettings (see ascent_settings()), got {type(drawn).__name__}")
        _note(f"amaxcheck: classes={_plain(cls)!r}, settings={drawn!r}")
        _note(f"amaxcheck: reproduce with: {reproduce(drawn, _plain(cls), labels=labels, **synthesize_kwargs)}")
        if cache:
            result = cached_synthesize(model, cls, drawn, labels=labels, **extra)
        else:
            from .ascent.engine import synthesize

            config, rest = _config_with(drawn, extra)
            result = synthesize(_live_model(model), cls, config=config, labels=labels, **rest)
        return DrawnResult.wrap(result, cls, drawn)

    return synthesized()
