"""How the optimized variables become an input in ``[0, 1]`` (then mapped to the model's range).

* ``"pixel"``: one free variable per input value, squashed by a sigmoid, so the
  model never sees a value outside its input range.
* ``"fourier"``: the image's spectrum, scaled by ``1/f`` (natural-image
  statistics) and, for RGB, decorrelated across colours as in lucid; then a
  sigmoid. Needs 2-D images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..errors import ModelError

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


@dataclass(frozen=True)
class PixelParameterization:
    shape: tuple[int, ...]
    init_std: float = 0.1
    name: str = "pixel"

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0.0, self.init_std, self.shape).astype(np.float32)

    def to_unit(self, params: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(params)


@dataclass(frozen=True)
class FourierParameterization:
    shape: tuple[int, ...]
    init_std: float = 0.01
    decay_power: float = 1.0
    name: str = "fourier"

    def __post_init__(self):
        if image_layout(self.shape) is None:
            raise ModelError(
                f"parameterization='fourier' needs image inputs, the model's input is {self.shape}; use 'pixel'"
            )

    @property
    def _hwc(self):
        return image_layout(self.shape)

    def init(self, rng: np.random.Generator) -> np.ndarray:
        h, w, c = self._hwc
        return rng.normal(0.0, self.init_std, (2, c, h, w // 2 + 1)).astype(np.float32)

    def _scale(self) -> np.ndarray:
        h, w, _ = self._hwc
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        freqs = np.sqrt(fx * fx + fy * fy)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** self.decay_power
        return (scale * np.sqrt(w * h)).astype(np.float32)

    def to_unit(self, params: tf.Tensor) -> tf.Tensor:
        h, w, c = self._hwc
        scale = tf.constant(self._scale())
        spectrum = tf.complex(params[:, 0] * scale, params[:, 1] * scale)  # (B, C, H, W//2+1)
        image = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (B, C, H, W)
        image = tf.transpose(image, [0, 2, 3, 1]) / 4.0
        if c == 3:
            image = tf.tensordot(image, tf.constant(_COLOR_SQRT.T), axes=[[3], [0]])
        unit = tf.sigmoid(image)
        return tf.reshape(unit, (-1,) + tuple(self.shape))


def make_parameterization(kind: str, shape: tuple[int, ...]):
    """Build the parameterization named ``kind`` (``"pixel"`` or ``"fourier"``) for inputs of ``shape``."""
    if kind == "pixel":
        return PixelParameterization(tuple(shape))
    if kind == "fourier":
        return FourierParameterization(tuple(shape))
    raise ValueError(f"unknown parameterization {kind!r}; use 'pixel' or 'fourier'")
