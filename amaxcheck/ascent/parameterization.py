"""How the optimized variables become an input in ``[0, 1]`` (then mapped to the model's range).

A parameterization is a small value, as in lucent: anything with

* ``init(rng, shape) -> np.ndarray``: the starting variables of one sample
  (``rng`` a NumPy generator, ``shape`` the model's input shape without batch);
* ``to_unit(params, shape) -> tf.Tensor``: a batch of variables to a batch of
  inputs in ``[0, 1]`` of ``(batch, *shape)``, differentiable;
* ``validate(shape)``: raise :class:`~amaxcheck.errors.ModelError` when it
  cannot represent inputs of ``shape``.

Two ship with amaxcheck; pass either by name or as a value
(``parameterization=Fourier(decay_power=1.5)``), or your own object.
Values must be hashable (frozen dataclasses are): the compiled engine is cached
by them.

* :class:`Pixel` (``"pixel"``): one free variable per input value, squashed by a
  sigmoid, so the model never sees a value outside its input range.
* :class:`Fourier` (``"fourier"``): the image's spectrum, scaled by ``1/f``
  (natural-image statistics) and, for RGB, decorrelated across colours as in
  lucid; then a sigmoid. Needs 2-D images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .._lazy import lazy_module
from ..errors import ArgumentTypeError, ModelError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf
else:
    tf = lazy_module("tensorflow")

# Square root of the colour correlation of ImageNet pixels (lucid's
# color_correlation_svd_sqrt), normalized so its largest column norm is 1.
_COLOR_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32
)
_COLOR_SQRT = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


def image_layout(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """``(H, W, C)`` for image-like inputs (rank 2 or 3), ``None`` for vectors."""
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1]), 1
    return None


@runtime_checkable
class Parameterization(Protocol):
    """What the engine needs from a parameterization (see the module docstring)."""

    name: str

    def init(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray: ...

    def to_unit(self, params: Any, shape: tuple[int, ...]) -> Any: ...

    def validate(self, shape: tuple[int, ...]) -> None: ...


@dataclass(frozen=True)
class Pixel:
    """One variable per input value; ``unit = sigmoid(params)``; starts at ``N(0, init_std)`` (near mid-grey)."""

    init_std: float = 0.1
    name: str = "pixel"

    def init(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(0.0, self.init_std, tuple(shape)).astype(np.float32)

    def to_unit(self, params: Any, shape: tuple[int, ...]) -> Any:
        return tf.sigmoid(params)

    def validate(self, shape: tuple[int, ...]) -> None:
        return None


@dataclass(frozen=True)
class Fourier:
    """The spectrum of the image, ``1/f**decay_power`` scaled (lucid's ``fft_image``); colour-decorrelated for RGB."""

    init_std: float = 0.01
    decay_power: float = 1.0
    name: str = "fourier"

    def validate(self, shape: tuple[int, ...]) -> None:
        if image_layout(tuple(shape)) is None:
            raise ModelError(
                f"parameterization='fourier' needs image inputs, the model's input is {tuple(shape)}; use 'pixel'"
            )

    def init(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        h, w, c = _hwc(shape)
        return rng.normal(0.0, self.init_std, (2, c, h, w // 2 + 1)).astype(np.float32)

    def _scale(self, shape: tuple[int, ...]) -> np.ndarray:
        h, w, _ = _hwc(shape)
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        freqs = np.sqrt(fx * fx + fy * fy)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** self.decay_power
        return (scale * np.sqrt(w * h)).astype(np.float32)

    def to_unit(self, params: Any, shape: tuple[int, ...]) -> Any:
        h, w, c = _hwc(shape)
        scale = tf.constant(self._scale(shape))
        spectrum = tf.complex(params[:, 0] * scale, params[:, 1] * scale)  # (B, C, H, W//2+1)
        image = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (B, C, H, W)
        image = tf.transpose(image, [0, 2, 3, 1]) / 4.0
        if c == 3:
            image = tf.tensordot(image, tf.constant(_COLOR_SQRT.T), axes=[[3], [0]])
        unit = tf.sigmoid(image)
        return tf.reshape(unit, (-1, *tuple(shape)))


def _hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    hwc = image_layout(tuple(shape))
    if hwc is None:
        raise ModelError(f"parameterization='fourier' needs image inputs, got shape {tuple(shape)}; use 'pixel'")
    return hwc


#: the parameterizations known by name
BY_NAME: dict[str, Parameterization] = {"pixel": Pixel(), "fourier": Fourier()}  # type: ignore[dict-item]


def as_parameterization(value: Any) -> Parameterization:
    """A parameterization value from a name (``"pixel"``, ``"fourier"``) or an object implementing the protocol."""
    if isinstance(value, str):
        if value not in BY_NAME:
            from ..errors import ConfigError

            raise ConfigError(f"unknown parameterization {value!r}; use {' or '.join(map(repr, BY_NAME))}, "
                              "or a value such as amaxcheck.ascent.parameterization.Fourier(decay_power=1.5)")
        return BY_NAME[value]
    if not isinstance(value, Parameterization):
        raise ArgumentTypeError(
            f"parameterization must be 'pixel', 'fourier' or an object with init(rng, shape), "
            f"to_unit(params, shape), validate(shape) and name; got {type(value).__name__}")
    try:
        hash(value)
    except TypeError:
        raise ArgumentTypeError(f"parameterization {value!r} must be hashable (e.g. a frozen dataclass): the "
                                "compiled engine is cached by it") from None
    return value
