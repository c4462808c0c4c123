"""The learned-nothing controls the verdict measures a model against.

* :func:`reinitialized_twin` / :func:`reinitialize` -- the model with every
  trainable layer redrawn from its own initializers (Adebayo et al. 2018): what
  the user's training started from.
* :func:`learned_nothing_control` -- :data:`~amaxcheck.defaults.CONTROL_TWINS`
  such twins ascending a fixed sample of classes with a fixed seed, as plain
  arrays (:class:`ControlEvidence`), cached; the same for any subset of classes
  and any user seed.
* :func:`shuffled_twin` -- each weight tensor permuted (the 0.1 control, kept
  for :mod:`amaxcheck.properties`; the verdict no longer uses it: it permutes
  BatchNorm statistics independently of the kernels, a network no training makes).
* :func:`white_noise` -- uniform noise of the input's shape and range.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import defaults as D
from ..errors import ModelError
from .signals import LayerWeights


def shuffled_twin(model: Any, seed: int = 0) -> Any:
    """A copy of ``model`` whose weight tensors each have their values randomly permuted.

    The user's model is not modified. Raises :class:`ModelError` for models
    Keras cannot clone (e.g. subclassed models without ``get_config``).
    """
    import keras

    try:
        twin = keras.models.clone_model(model)
    except Exception as exc:  # clone_model raises a variety of errors for custom models
        raise ModelError(
            f"cannot build a shuffled-weights twin of {type(model).__name__} ({exc}); "
            "Keras can clone functional and Sequential models"
        ) from exc
    rng = np.random.default_rng(seed)
    weights = [np.asarray(w) for w in model.get_weights()]
    twin.set_weights([rng.permutation(w.ravel()).reshape(w.shape) for w in weights])
    twin.name = f"{model.name}_shuffled_twin" if hasattr(twin, "name") else "shuffled_twin"
    return twin


def white_noise(shape: Sequence[int], n: int, input_range: Sequence[float], seed: int = 0) -> np.ndarray:
    """``n`` uniform-noise inputs of ``shape`` spanning ``input_range``."""
    lo, hi = float(input_range[0]), float(input_range[1])
    return np.random.default_rng(seed).uniform(lo, hi, (n, *shape)).astype(np.float32)


def _initializer_of(layer: Any, variable: Any) -> Any:
    """The initializer a Keras layer created ``variable`` with (``None`` when the layer does not say)."""
    name = str(variable.name).split("/")[-1].split(":")[0]
    for attr in (f"{name}_initializer", name.replace("_kernel", "") + "_initializer"):
        init = getattr(layer, attr, None)
        if init is not None:
            return init
    return None


def _reseeded(initializer: Any, seed: int) -> Any:
    """``initializer`` drawing from ``seed`` (a seeded Keras initializer repeats its values otherwise)."""
    import keras

    init = keras.initializers.get(initializer)
    config = init.get_config() if hasattr(init, "get_config") else {}
    if "seed" in config:
        return type(init).from_config({**config, "seed": int(seed)})
    return init


def _trainable_variables(model: Any) -> list[tuple[Any, Any]]:
    """(layer, variable) for every variable of every trainable layer, nested models included, in a stable order."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not layer.trainable or layer.weights == []:
            continue
        for variable in list(layer._trainable_variables) + list(layer._non_trainable_variables):
            out.append((layer, variable))
    return out


def reinitialize(model: Any, seed: int) -> list[str]:
    """Redraw, in place, every variable of ``model``'s trainable layers from its own initializer; return their names.

    Frozen layers (a transfer model's pretrained base) and variables without an
    initializer (a ``Normalization`` layer's adapted statistics) are kept.
    BatchNorm moving statistics return to their initializers (mean 0, variance 1),
    consistent with gamma 1 and beta 0: the layer is the identity it is at initialization.
    """
    names = []
    for k, (layer, variable) in enumerate(_trainable_variables(model)):
        init = _initializer_of(layer, variable)
        if init is None:
            continue
        variable.assign(_reseeded(init, 1_000_003 * int(seed) + k)(tuple(variable.shape), dtype=variable.dtype))
        names.append(f"{layer.name}/{str(variable.name).split('/')[-1]}")
    return names


def reinitialized_twin(model: Any, seed: int = 0) -> Any:
    """A copy of ``model`` with every trainable layer drawn afresh from its own initializers (:func:`reinitialize`).

    The "learned nothing" control of Adebayo et al. (*Sanity Checks for Saliency
    Maps*, NeurIPS 2018, independent randomization): the same architecture and
    initial weight distributions, none of the learning -- what the user's own
    training started from. The user's model is not modified; raises
    :class:`ModelError` when Keras cannot clone it.
    """
    import keras

    try:
        twin = keras.models.clone_model(model)
    except Exception as exc:  # clone_model raises a variety of errors for custom models
        raise ModelError(f"cannot build a re-initialized twin of {type(model).__name__} ({exc}); the verdict needs "
                         "a model Keras can clone (functional or Sequential): pass verdict=False to skip it") from exc
    twin.set_weights(model.get_weights())
    reinitialize(twin, seed)
    twin.name = f"{model.name}_reinitialized"
    return twin


# --------------------------------------------------------------------------- the control evidence
@dataclass(frozen=True)
class ControlEvidence:
    """What ``len(seeds)`` re-initialized twins of a model do, as plain arrays (cacheable, no model held).

    ``reach[i, j]``: best target probability of twin ``i`` on class ``classes[j]``;
    ``agreement[i, j]``: mean correlation between that class's restarts (what the
    ascent added); ``weights``: the model's trainable variables beside twin 0's
    fresh draw (see :func:`amaxcheck.verdict.signals.weights_at_initialization`);
    ``head``: the name of the output layer; ``images[j]``: the ideal input of
    class ``classes[j]`` that reached highest over every twin and restart (raw
    input range; what the HTML report shows beside the model's), ``None`` when
    not kept.
    """

    classes: tuple[int, ...]
    seeds: tuple[int, ...]
    restarts: int
    reach: np.ndarray
    agreement: np.ndarray
    weights: tuple[LayerWeights, ...]
    head: str | None
    images: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """The floor a reader compares the model with (JSON ``controls``)."""
        return {"kind": "re-initialized twins (each trainable layer redrawn from its own initializer)",
                "twins": len(self.seeds), "seeds": list(self.seeds), "classes": list(self.classes),
                "restarts": self.restarts,
                "reach_median": float(np.median(self.reach)), "reach_max": float(np.max(self.reach)),
                "agreement_median": float(np.nanmedian(self.agreement)) if np.isfinite(self.agreement).any() else None}


def control_classes(n_classes: int, count: int | None = None) -> tuple[int, ...]:
    """The fixed classes the controls ascend (default :data:`~amaxcheck.defaults.CONTROL_CLASSES` of them).

    The same for any subset the user checks (and any seed).
    """
    picked = np.random.default_rng(D.CONTROL_SEED).permutation(int(n_classes))[:count or D.CONTROL_CLASSES]
    return tuple(sorted(int(c) for c in picked))


def control_config(config: Any) -> Any:
    """The user's ascent settings with the controls' fixed seed and restart count, stopping samples on a plateau.

    A re-initialized twin's class probability stops rising early (it has nothing to
    find), so its samples stop once their objective has not risen by
    :data:`~amaxcheck.defaults.PLATEAU_TOL` for the user's ``stop_plateau`` steps, or
    :data:`~amaxcheck.defaults.STOP_PLATEAU` where the user turned early stopping off.
    """
    plateau = config.stop_plateau if config.stop_plateau is not None else D.STOP_PLATEAU
    return config.replace(seed=D.CONTROL_SEED, restarts=max(2, D.CONTROL_RESTARTS), stop_plateau=plateau)


def learned_nothing_control(model: Any, config: Any, n_classes: int) -> ControlEvidence:
    """Synthesize the fixed control classes on :data:`~amaxcheck.defaults.CONTROL_TWINS` re-initialized twins.

    The model itself is lent to the twins: re-initialized in place per twin seed and
    restored bit for bit afterwards, even on errors and interrupts, so the twins
    run through the model's own compiled engine (no clone, no second trace; any
    model works, subclassed ones included). Not thread-safe: do not call the model
    from another thread meanwhile. Cached in :data:`amaxcheck._cache.CONTROLS` by (weights,
    architecture, settings without seed and restarts): every subset of classes and
    every user seed meets the same controls.
    """
    from .. import _cache

    cfg = control_config(config)
    classes = control_classes(n_classes)
    seeds = tuple(range(D.CONTROL_SEED, D.CONTROL_SEED + D.CONTROL_TWINS))
    return _cache.CONTROLS.get_or_build(_control_key(model, cfg, classes),
                                        lambda: _build_control(model, cfg, classes, seeds))


def cached_control(model: Any, config: Any, n_classes: int) -> ControlEvidence | None:
    """The :func:`learned_nothing_control` of ``model`` at ``config`` if one is cached, else ``None``; never builds one.

    How a report finds the control it was judged against (``check`` builds it,
    cached) without paying for a new one when the verdict was not computed.
    """
    from .. import _cache

    key = _control_key(model, control_config(config), control_classes(n_classes))
    return _cache.CONTROLS.get(key) if key in _cache.CONTROLS else None


def _control_key(model: Any, cfg: Any, classes: tuple[int, ...]) -> tuple[Any, ...]:
    from .. import _cache

    return ("reinitialized",) + _cache.result_key(model, classes, None, cfg)


def _build_control(model: Any, cfg: Any, classes: tuple[int, ...], seeds: tuple[int, ...]) -> ControlEvidence:
    model_vars = _trainable_variables(model)
    trained = [np.asarray(v).copy() for _, v in model_vars]
    best = np.full(len(classes), -1.0)
    images: np.ndarray | None = None
    with _reinitialized_in_place(model) as redraw:
        draws: list[list[np.ndarray]] = []
        reach, agreement = [], []
        for seed in seeds:
            redraw(seed)
            if len(draws) < 2:
                draws.append([np.asarray(v).copy() for _, v in model_vars])
            twin_reach, twin_agreement, twin_images = _ascend_control(model, cfg, classes)
            reach.append(twin_reach)
            agreement.append(twin_agreement)
            images = np.zeros_like(twin_images) if images is None else images
            for j, value in enumerate(twin_reach):
                if value > best[j]:
                    best[j], images[j] = value, twin_images[j]
    first, second = draws[0], draws[-1]
    weights = tuple(
        LayerWeights(f"{layer.name}/{str(var.name).split('/')[-1]}", values, fresh,
                     bool(np.array_equal(fresh, other)))
        for (layer, var), values, fresh, other in zip(model_vars, trained, first, second)
        if _initializer_of(layer, var) is not None)
    return ControlEvidence(classes, seeds, cfg.restarts, np.array(reach), np.array(agreement), weights,
                           _head_layer(model, cfg, model_vars), images=images)


def _head_layer(model: Any, cfg: Any, model_vars: list[tuple[Any, Any]]) -> str | None:
    """The layer that produces the configured output (not merely the last layer with weights: an auxiliary head)."""
    from ..ascent.engine import adapter_for
    from ..ascent.model_adapter import output_layer_name

    names = [layer.name for layer, _ in model_vars]
    head = output_layer_name(model, adapter_for(model, cfg).output_index)
    if head is None:  # output not traceable (a subclassed model): the last layer with weights
        return names[-1] if names else None
    return head if head in names else None  # a frozen head is not the user's training to judge


@contextmanager
def _reinitialized_in_place(model: Any) -> Iterator[Callable[[int], Any]]:
    """Lend ``model`` to the controls: ``redraw(seed)`` re-initializes it in place; every variable is restored after.

    The twins then run through the model's own compiled engine (same graph, same
    variables, other values): no clone, no second trace. The restore runs on every
    exit, errors and interrupts included, and puts back every variable
    (trainable or not, BatchNorm statistics included) bit for bit.
    """
    saved = [(variable, np.array(variable.numpy(), copy=True)) for variable in model.weights]
    try:
        yield lambda seed: reinitialize(model, seed)
    finally:
        for variable, value in saved:
            variable.assign(value)


def _ascend_control(model: Any, cfg: Any, classes: tuple[int, ...]
                    ) -> tuple[list[float], list[float], np.ndarray]:
    """One twin's best target probability, restart agreement and best image per control class."""
    from ..ascent.engine import adapter_for, synthesize
    from . import stats as S
    from .checks import ascent_delta

    res = synthesize(model, list(classes), config=cfg, progress=False)
    seen = S.quantize(res.images, cfg.input_range) if S.is_image(res.images[0]) else res.images
    probs = adapter_for(model, cfg).probabilities(seen)  # the configured output, fixed inputs supplied
    rows = [np.flatnonzero(res.classes == c) for c in classes]
    best = [idx[np.argmax(probs[idx, c])] for idx, c in zip(rows, classes)]
    return ([float(probs[i, c]) for i, c in zip(best, classes)],
            [S.restart_agreement(ascent_delta(res, idx)) for idx in rows], res.images[best])
