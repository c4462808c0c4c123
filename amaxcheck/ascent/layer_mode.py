"""Layer mode: which units of which layer to visualize, and what each sample's unit reaches.

``synthesize(model, layer="conv2", units=[7, 9] | "all")`` asks for the input each
channel of a feature-map layer wants most (the filter grid of keras-vis). The
engine runs it exactly as it runs classes: each sample's unit is a batch input
(where class mode passes the sample's target class), so every unit x restart runs
in one compiled batch. This module holds what is particular to the mode: the
settings and objective checks, turning ``units`` into indices, and reading the
layer's channel means (the activation the ascent raised) for any images.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import defaults as D
from ..errors import ConfigError, UnitSelectionError
from .config import AscentConfig
from .objectives import Objective, default_unit_objective, require_spatial

#: the value of :attr:`SynthesisResult.mode` for classes and for a layer's units
CLASSES, LAYER = "classes", "layer"


def class_mode_objective(objective: Objective, n_targets: int) -> None:
    """Refuse objectives that do not fit class mode (raises :class:`ConfigError`).

    A per-unit term (``channel(layer)`` without an index) needs layer mode, and
    an objective that does not read the target class would synthesize the same
    input once per class, so it is refused for more than one class.
    """
    if "unit" in objective.reads():
        layer = objective.unit_layers[0]
        raise ConfigError(f"objective {objective!r} picks each sample's unit of layer {layer!r}, which is layer "
                          f"mode: call synthesize(model, layer={layer!r}, units='all' or [...]) without classes")
    if n_targets > 1 and not objective.reads() & {"class", "custom"}:
        layers = objective.layers
        hint = (f"; to see the units of layer {layers[0]!r}, one image per unit, use "
                f"synthesize(model, layer={layers[0]!r}, units=[...] or 'all')") if layers else ""
        raise ConfigError(
            f"objective {objective!r} does not depend on the target class, so {n_targets} classes would "
            f"synthesize the same input {n_targets} times; pass one class (classes=[0]){hint}"
        )


def layer_config(config: AscentConfig, layer: Any) -> AscentConfig:
    """``config`` for visualizing ``layer``: its objective defaults to ``channel(layer) - tv_weight * tv``.

    Raises :class:`ConfigError` for settings that only mean something for classes
    (``stop_at``) and for an objective that does not pick each sample's unit of ``layer``.
    """
    if not isinstance(layer, str) or not layer:
        raise ConfigError(f"layer must be the name of a layer of the model (a str), got {layer!r}")
    if config.stop_at is not None:
        raise ConfigError("stop_at stops a sample once its target-class probability reaches it; layer mode has "
                          "no target class: leave stop_at unset (every unit runs the full steps)")
    if config.objective is None:
        return config.replace(objective=default_unit_objective(layer, config.tv_weight))
    objective = config.objective
    if "class" in objective.reads():
        raise ConfigError(f"objective {objective!r} reads each sample's target class, which layer mode does not "
                          f"have; use channel({layer!r}) (no index) for each sample's unit, plus regularizers")
    if not objective.reads() & {"unit", "custom"}:
        raise ConfigError(f"objective {objective!r} is the same for every unit, so every unit would get the same "
                          f"input; include channel({layer!r}) (no index), which picks each sample's unit")
    other = sorted(set(objective.unit_layers) - {layer})
    if other:
        raise ConfigError(f"objective {objective!r} picks units of layer {other[0]!r} but layer={layer!r}; "
                          "name the same layer in both")
    return config


def unit_count(layer: str, shape: tuple[Any, ...]) -> int:
    """The number of channels of a feature-map layer (its last axis); raises ``ModelError`` without spatial axes."""
    require_spatial(layer, shape)
    return int(shape[-1])


def resolve_units(units: Any, layer: str, n_units: int) -> list[int]:
    """``"all"``, an int or a list of ints to validated unit indices, in the order given.

    Raises :class:`UnitSelectionError` for an empty list, a repeated unit, a
    non-integer, or a unit the layer does not have.
    """
    if isinstance(units, str):
        if units == "all":
            return list(range(n_units))
        raise UnitSelectionError(f"units must be 'all', an index or a list of indices, got {units!r}")
    items = [units] if isinstance(units, (int, np.integer)) else list(units)
    if not items:
        raise UnitSelectionError(f"units is empty; pass units='all' or some of layer {layer!r}'s units "
                                 f"0..{n_units - 1}, e.g. units=[0, 1]")
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise UnitSelectionError(f"unit {item!r} is not an integer index; pass units='all' or a list of "
                                     f"indices 0..{n_units - 1}")
        if not 0 <= int(item) < n_units:
            raise UnitSelectionError(f"layer {layer!r} has {n_units} channels (0..{n_units - 1}), so unit "
                                     f"{int(item)} does not exist; pick units below {n_units} or units='all'")
    out = [int(u) for u in items]
    for i, u in enumerate(out):
        if u in out[:i]:
            raise UnitSelectionError(f"unit {u} is listed more than once in units={out}; list each unit once "
                                     "(every unit already gets `restarts` samples)")
    return out


def channel_means(adapter: Any, layer: str, images: np.ndarray,
                  preprocess: Callable[..., Any] | None = None, batch: int = D.MAX_BATCH) -> np.ndarray:
    """Each channel's mean activation of ``layer`` for raw-range ``images``: float32 ``(n, n_units)``.

    ``adapter`` must tap ``layer`` (the engine's adapter does). Forward passes
    only, eagerly, as the ascent reads the layer (``preprocess`` included).
    """
    import tensorflow as tf

    from .objectives import channel_means as per_channel

    chunks = []
    for start in range(0, len(images), batch):
        x = tf.constant(np.asarray(images[start:start + batch], np.float32))
        acts = adapter.scores(adapter.prepared(x, preprocess))[2]
        chunks.append(per_channel(acts[layer]).numpy())
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(chunks).astype(np.float32)


def unit_activations(adapter: Any, layer: str, images: np.ndarray, units: Sequence[int] | np.ndarray,
                     preprocess: Callable[..., Any] | None = None) -> np.ndarray:
    """The activation of each image's own unit (its channel mean): float32 ``(n,)``."""
    means = channel_means(adapter, layer, images, preprocess)
    return means[np.arange(len(images)), np.asarray(units, np.int64)].astype(np.float32)
