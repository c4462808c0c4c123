"""Objectives: small composable values the ascent maximizes (lucid style).

    >>> from amaxcheck.objectives import class_log_prob, total_variation
    >>> obj = class_log_prob() - 0.05 * total_variation()

Each objective maps an :class:`AscentContext` to one score per sample
(shape ``(batch,)``); ``+``, ``-``, unary ``-`` and scalar ``*`` combine them.
Class terms without an explicit class use each sample's own target class.
Regularizers are computed on the *unit* image (the input mapped to ``[0, 1]``)
so their weights mean the same thing for a 0..1 model and a 0..255 model.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .._lazy import lazy_module
from ..errors import ArgumentTypeError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf
else:
    tf = lazy_module("tensorflow")


@dataclass
class AscentContext:
    """What an objective can read at one ascent step (all tensors have batch first)."""

    logits: tf.Tensor  # (B, n_classes) class scores (pre-softmax where possible)
    log_probs: tf.Tensor  # (B, n_classes)
    targets: tf.Tensor  # (B,) int32 target class of each sample (layer mode: its unit, as there is no class)
    unit_image: tf.Tensor  # (B, *shape) the optimized input mapped to [0, 1], untransformed
    model_input: tf.Tensor  # (B, *shape) what the model saw, raw range, transformed
    activations: Mapping[str, tf.Tensor] = field(default_factory=dict)
    units: tf.Tensor | None = None  # (B,) int32 unit of each sample (layer mode only; None for classes)
    weights: tf.Tensor | None = None  # the objective's numbers (:meth:`Objective.constants`) as a tensor input
    slots: Mapping[int, int] | None = None  # id of each weighted node of the traced objective -> its index in weights

    def weight(self, node: Objective, value: float) -> Any:
        """The number ``node`` holds: read from :attr:`weights` inside the compiled engine, else ``value``.

        So objectives that differ only in their numbers (a ``tv_weight``, a
        hypothesis-drawn regularizer weight) share one traced graph.
        """
        if self.slots is not None and self.weights is not None and id(node) in self.slots:
            return self.weights[self.slots[id(node)]]
        return value


class Objective:
    """Base class: subclasses implement :meth:`__call__` and may list ``layers`` they read."""

    layers: tuple[str, ...] = ()

    def __call__(self, ctx: AscentContext) -> tf.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def validate(self, layer_shapes: Mapping[str, tuple[Any, ...]]) -> None:
        """Raise :class:`~amaxcheck.errors.ModelError` if the objective cannot read the layers it names.

        ``layer_shapes`` maps each name in :attr:`layers` to that layer's output
        shape (without the batch axis). Called once before the ascent is compiled.
        """

    def constants(self) -> tuple[float, ...]:
        """The numbers of this objective (scales and constant terms), in a fixed order; leaves hold none."""
        return ()

    def weighted_nodes(self) -> tuple[Objective, ...]:
        """The nodes holding :meth:`constants`, in the same order."""
        return ()

    def skeleton(self) -> Any:
        """A hashable value equal for objectives that differ only in :meth:`constants` (the graph they trace)."""
        return self

    def reads(self) -> frozenset[str]:
        """What each sample's own index decides in this objective.

        ``"class"``: a term reads the sample's target class (``class_log_prob()``);
        ``"unit"``: a term reads the sample's unit (``channel(layer)`` without an
        index, layer mode); ``"custom"``: a custom term, which may read either.
        Empty: every sample maximizes the same thing, whatever its class or unit.
        """
        return frozenset()

    @property
    def unit_layers(self) -> tuple[str, ...]:
        """Layers whose channel is picked per sample (``channel(layer)`` without an index)."""
        return ()

    # composition -------------------------------------------------------
    def __add__(self, other: Objective | float) -> Objective:
        return _Sum((self, _as_objective(other)))

    def __radd__(self, other: Objective | float) -> Objective:
        return _Sum((_as_objective(other), self))

    def __sub__(self, other: Objective | float) -> Objective:
        return _Sum((self, _Scaled(-1.0, _as_objective(other))))

    def __rsub__(self, other: Objective | float) -> Objective:
        return _Sum((_as_objective(other), _Scaled(-1.0, self)))

    def __neg__(self) -> Objective:
        return _Scaled(-1.0, self)

    def __mul__(self, k: float) -> Objective:
        if isinstance(k, Objective):
            raise ArgumentTypeError("objectives can be scaled by numbers, not multiplied together; "
                                    "use custom(fn) for products")
        return _Scaled(float(k), self)

    __rmul__ = __mul__

    def __truediv__(self, k: float) -> Objective:
        return _Scaled(1.0 / float(k), self)


def _as_objective(value: Objective | float) -> Objective:
    if isinstance(value, Objective):
        return value
    if isinstance(value, (int, float)):
        return _Constant(float(value))
    raise ArgumentTypeError(f"cannot combine an objective with {type(value).__name__}; use a number or an "
                            "Objective from amaxcheck.objectives")


@dataclass(frozen=True)
class _Constant(Objective):
    value: float

    def __call__(self, ctx):
        return tf.fill(tf.shape(ctx.targets), 1.0) * tf.cast(ctx.weight(self, self.value), tf.float32)

    def constants(self):
        return (self.value,)

    def weighted_nodes(self):
        return (self,)

    def skeleton(self):
        return ("constant",)

    def __repr__(self):
        return repr(self.value)


@dataclass(frozen=True)
class _Sum(Objective):
    terms: tuple

    @property
    def layers(self):
        return tuple(name for t in self.terms for name in t.layers)

    def __call__(self, ctx):
        return tf.add_n([t(ctx) for t in self.terms])

    def constants(self):
        return tuple(v for t in self.terms for v in t.constants())

    def weighted_nodes(self):
        return tuple(n for t in self.terms for n in t.weighted_nodes())

    def skeleton(self):
        return ("sum", tuple(t.skeleton() for t in self.terms))

    def validate(self, layer_shapes):
        for t in self.terms:
            t.validate(layer_shapes)

    def reads(self):
        return frozenset().union(*(t.reads() for t in self.terms))

    @property
    def unit_layers(self):
        return tuple(name for t in self.terms for name in t.unit_layers)

    def __repr__(self):
        out = repr(self.terms[0])
        for t in self.terms[1:]:
            if isinstance(t, _Scaled) and t.k < 0:
                out += f" - {_Scaled(-t.k, t.inner)!r}"
            else:
                out += f" + {t!r}"
        return out


@dataclass(frozen=True)
class _Scaled(Objective):
    k: float
    inner: Objective

    @property
    def layers(self):
        return self.inner.layers

    def __call__(self, ctx):
        return ctx.weight(self, self.k) * self.inner(ctx)

    def constants(self):
        return (self.k, *self.inner.constants())

    def weighted_nodes(self):
        return (self, *self.inner.weighted_nodes())

    def skeleton(self):
        return ("scaled", self.inner.skeleton())

    def validate(self, layer_shapes):
        self.inner.validate(layer_shapes)

    def reads(self):
        return self.inner.reads()

    @property
    def unit_layers(self):
        return self.inner.unit_layers

    def __repr__(self):
        if self.k == 1.0:
            return repr(self.inner)
        if self.k == -1.0:
            return f"-{self.inner!r}"
        inner = f"({self.inner!r})" if isinstance(self.inner, _Sum) else repr(self.inner)
        return f"{self.k:g}*{inner}"


def _pick(scores: tf.Tensor, ctx: AscentContext, cls: int | None) -> tf.Tensor:
    if cls is None:
        return tf.gather(scores, ctx.targets, axis=1, batch_dims=1)
    return scores[:, int(cls)]


@dataclass(frozen=True)
class _ClassScore(Objective):
    """A class's score read from ``ctx.<source>``; by default each sample's own target class."""

    cls: int | None = None
    source: ClassVar[str] = "logits"
    constructor: ClassVar[str] = ""

    def __call__(self, ctx):
        return _pick(getattr(ctx, self.source), ctx, self.cls)

    def reads(self):
        return frozenset({"class"}) if self.cls is None else frozenset()

    def __repr__(self):
        return f"{self.constructor}({'' if self.cls is None else self.cls})"


@dataclass(frozen=True, repr=False)
class ClassLogit(_ClassScore):
    source: ClassVar[str] = "logits"
    constructor: ClassVar[str] = "class_logit"


@dataclass(frozen=True, repr=False)
class ClassLogProb(_ClassScore):
    source: ClassVar[str] = "log_probs"
    constructor: ClassVar[str] = "class_log_prob"


def _spatial_mean(t: tf.Tensor) -> tf.Tensor:
    """Mean over every axis but the batch axis."""
    return tf.reduce_mean(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)


@dataclass(frozen=True)
class Channel(Objective):
    """Mean activation of one channel; ``index=None``: each sample's own unit (``ctx.units``, layer mode)."""

    layer: str
    index: int | None

    @property
    def layers(self):
        return (self.layer,)

    @property
    def unit_layers(self):
        return (self.layer,) if self.index is None else ()

    def reads(self):
        return frozenset({"unit"}) if self.index is None else frozenset()

    def __call__(self, ctx):
        act = ctx.activations[self.layer]
        if self.index is not None:
            return _spatial_mean(act[..., self.index])
        if ctx.units is None:
            raise ConfigError(f"{self!r} picks each sample's unit, which only layer mode gives; use "
                              f"synthesize(model, layer={self.layer!r}, units=...)")
        return tf.gather(channel_means(act), ctx.units, axis=1, batch_dims=1)

    def validate(self, layer_shapes):
        shape = tuple(layer_shapes[self.layer])
        if self.index is None:
            require_spatial(self.layer, shape)
        else:
            _check_unit(self, self.layer, self.index, shape, "channel")

    def __repr__(self):
        return f"channel({self.layer!r}{'' if self.index is None else f', {self.index}'})"


def channel_means(act: tf.Tensor) -> tf.Tensor:
    """``(B, *spatial, C)`` activations to ``(B, C)``: each channel's mean over the spatial positions."""
    return tf.reduce_mean(act, axis=list(range(1, act.shape.rank - 1)))


def require_spatial(layer: str, shape: tuple[Any, ...]) -> None:
    """Raise :class:`~amaxcheck.errors.ModelError` unless ``shape`` (no batch axis) is a feature map ``(*spatial, C)``."""
    if len(shape) < 2:
        from ..errors import ModelError

        raise ModelError(
            f"layer {layer!r} has no spatial output (its output shape is {(None, *shape)}), so it has no channels "
            "to draw as a filter grid; pick a convolutional or pooling layer, or for a unit of a Dense/Flatten "
            f"layer maximize it as an objective: synthesize(model, classes=[0], objective=neuron({layer!r}, k))"
        )


@dataclass(frozen=True)
class Neuron(Objective):
    layer: str
    index: int
    position: tuple[int, ...] | None = None

    @property
    def layers(self):
        return (self.layer,)

    def __call__(self, ctx):
        act = ctx.activations[self.layer]
        if act.shape.rank == 2:
            return act[:, self.index]
        if self.position is None:  # centre of the feature map
            pos = tuple(int(d) // 2 for d in act.shape[1:-1])
        else:
            pos = tuple(self.position)
        return act[(slice(None),) + pos + (self.index,)]

    def __repr__(self):
        return f"neuron({self.layer!r}, {self.index}{'' if self.position is None else ', ' + repr(self.position)})"

    def validate(self, layer_shapes):
        shape = tuple(layer_shapes[self.layer])
        _check_unit(self, self.layer, self.index, shape, "unit")
        if self.position is not None and len(shape) > 1:
            spatial = shape[:-1]
            if len(self.position) != len(spatial) or any(
                    d is not None and not 0 <= p < d for p, d in zip(self.position, spatial)):
                from ..errors import ModelError

                raise ModelError(f"{self!r}: position {self.position} is outside layer {self.layer!r}'s "
                                 f"{spatial} grid; give one index per spatial axis, each below its size")


def _check_unit(objective: Objective, layer: str, index: int, shape: tuple[Any, ...], what: str) -> None:
    """A channel or unit index must exist in the layer's last axis."""
    from ..errors import ModelError

    n = shape[-1] if shape else None
    if n is not None and not 0 <= index < int(n):
        raise ModelError(f"{objective!r}: layer {layer!r} has {int(n)} {what}s (0..{int(n) - 1}), so {what} "
                         f"{index} does not exist; pick an index below {int(n)}")


@dataclass(frozen=True)
class L1(Objective):
    def __call__(self, ctx):
        return _spatial_mean(tf.abs(ctx.unit_image - 0.5))

    def __repr__(self):
        return "l1()"


@dataclass(frozen=True)
class L2(Objective):
    def __call__(self, ctx):
        return tf.sqrt(_spatial_mean(tf.square(ctx.unit_image - 0.5)) + 1e-12)

    def __repr__(self):
        return "l2()"


@dataclass(frozen=True)
class TotalVariation(Objective):
    """Mean absolute difference between neighbouring values of the unit image, in ``[0, 1]``."""

    def __call__(self, ctx):
        return total_variation_per_sample(ctx.unit_image)

    def __repr__(self):
        return "total_variation()"


def total_variation_per_sample(unit: tf.Tensor) -> tf.Tensor:
    """Anisotropic TV per sample, averaged over pixel pairs (images ``(B,H,W,C)``, vectors ``(B,F)``, sequences ``(B,L,C)``)."""
    if unit.shape.rank == 4:
        return 0.5 * (_spatial_mean(_neighbour_difference(unit, 1)) + _spatial_mean(_neighbour_difference(unit, 2)))
    return _spatial_mean(_neighbour_difference(unit, 1))


def _neighbour_difference(t: tf.Tensor, axis: int) -> tf.Tensor:
    """``|t[i+1] - t[i]|`` along ``axis`` (static size).

    Written with ``tf.slice`` rather than ``t[:, 1:]``: on CPU the gradient of
    strided slicing cost 3x more (0.12x vs 0.04x of a MobileNetV2 step at
    96x96, batch 40; ``benchmarks/profile_ascent.py``).
    """
    rank, n = t.shape.rank, int(t.shape[axis])
    size = [-1] * rank
    size[axis] = n - 1
    later = [0] * rank
    later[axis] = 1
    return tf.abs(tf.slice(t, later, size) - tf.slice(t, [0] * rank, size))


@dataclass(frozen=True)
class Custom(Objective):
    fn: Callable[[AscentContext], tf.Tensor]
    name: str = "custom"
    layer_names: tuple[str, ...] = ()

    @property
    def layers(self):
        return self.layer_names

    def reads(self):
        return frozenset({"custom"})

    def __call__(self, ctx):
        out = tf.convert_to_tensor(self.fn(ctx), tf.float32)
        if out.shape.rank != 1:
            raise ConfigError(
                f"custom objective {self.name!r} must return one score per sample (shape (batch,)), got shape "
                f"{out.shape}; reduce over the other axes, e.g. tf.reduce_mean(x, axis=[1, 2, 3])"
            )
        return out

    def __repr__(self):
        return f"{self.name}()"


# Public constructors ---------------------------------------------------------

def class_logit(cls: int | None = None) -> Objective:
    """Score (logit) of class ``cls``; by default each sample's own target class.

    Plain logit ascent can leave the target near chance because other logits
    grow too; prefer :func:`class_log_prob` to raise confidence.
    """
    return ClassLogit(cls)


def class_log_prob(cls: int | None = None) -> Objective:
    """Log-probability (log-softmax) of class ``cls``; by default each sample's target."""
    return ClassLogProb(cls)


def channel(layer: str, index: int | None = None) -> Objective:
    """Mean activation of channel ``index`` of the named layer over its spatial positions.

    Without ``index``, each sample's own unit: what layer mode
    (``synthesize(model, layer=..., units=...)``) maximizes.
    """
    return Channel(layer, None if index is None else int(index))


def neuron(layer: str, index: int, position: tuple[int, ...] | None = None) -> Objective:
    """One unit of the named layer (spatial ``position``, default the centre)."""
    return Neuron(layer, int(index), None if position is None else tuple(int(p) for p in position))


def l1() -> Objective:
    """Mean absolute deviation of the unit image from mid-grey (subtract it to penalize)."""
    return L1()


def l2() -> Objective:
    """Root-mean-square deviation of the unit image from mid-grey."""
    return L2()


def total_variation() -> Objective:
    """Total variation of the unit image, in ``[0, 1]`` (subtract it to smooth)."""
    return TotalVariation()


def custom(fn: Callable[[AscentContext], tf.Tensor], name: str = "custom", layers: tuple[str, ...] = ()) -> Objective:
    """Wrap ``fn(ctx) -> (batch,) tensor`` as an objective; list any ``layers`` it reads from ``ctx.activations``."""
    return Custom(fn, name, tuple(layers))


def default_objective(tv_weight: float = 0.05) -> Objective:
    """What :func:`amaxcheck.synthesize` maximizes when ``objective=None``."""
    return class_log_prob() - tv_weight * total_variation()


def default_unit_objective(layer: str, tv_weight: float = 0.05) -> Objective:
    """What layer mode (``synthesize(model, layer=...)``) maximizes when ``objective=None``."""
    return channel(layer) - tv_weight * total_variation()
