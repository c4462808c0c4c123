"""Random input transforms applied in-graph at every ascent step.

Robustness to small shifts, zooms and rotations is what keeps the ascent away
from brittle pixel-exact patterns. All of them are one per-sample affine warp
(``ImageProjectiveTransformV3``, reflect padding), plus an optional Gaussian
blur. The random numbers come from NumPy generators seeded per sample, so a
sample's trajectory does not depend on which other samples share its batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import lazy_module
from .parameterization import image_layout

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf
else:
    tf = lazy_module("tensorflow")

#: random numbers drawn per sample and step: shift x, shift y, zoom, angle
N_RANDOM = 4


@dataclass(frozen=True)
class Transforms:
    """Strengths of the per-step random transforms.

    jitter : float
        Largest shift, in pixels (uniform in ``[-jitter, jitter]``).
    scale : (float, float)
        Zoom factor range.
    rotate : float
        Largest rotation, in degrees.
    blur : float
        Gaussian blur sigma in pixels applied after the warp (0 = none).
    """

    jitter: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    rotate: float = 0.0
    blur: float = 0.0

    @classmethod
    def auto(cls, shape: tuple[int, ...]) -> Transforms:
        """Defaults that scale with the image: shifts of ~1/16 of the side, ±5% zoom, ±5° rotation.

        At 224 px this is lucid's usual jitter (14 px); at 16 px it is one pixel.
        Vectors (tabular inputs) get no transforms.
        """
        hwc = image_layout(shape)
        if hwc is None or min(hwc[:2]) < 4:
            return cls()
        side = min(hwc[:2])
        return cls(jitter=float(max(1, round(side / 16))), scale=(0.95, 1.05), rotate=5.0, blur=0.0)

    @classmethod
    def none(cls) -> Transforms:
        return cls()

    @property
    def warps(self) -> bool:
        """True when a shift, zoom or rotation is drawn (one affine warp per sample and step)."""
        return self.jitter > 0 or self.scale != (1.0, 1.0) or self.rotate > 0

    @property
    def active(self) -> bool:
        return self.warps or self.blur > 0

    def as_dict(self) -> dict:
        return {"jitter": self.jitter, "scale": list(self.scale), "rotate": self.rotate, "blur": self.blur}


def resolve_transforms(spec: Any, shape: tuple[int, ...]) -> Transforms:
    """``"auto"`` -> :meth:`Transforms.auto` for ``shape``; ``None``/``"none"`` -> no transforms; a value as is."""
    if isinstance(spec, Transforms):
        return spec
    if spec == "auto":
        return Transforms.auto(shape)
    if spec is None or spec == "none":
        return Transforms.none()
    from ..errors import ConfigError

    raise ConfigError(f"transforms must be 'auto', None or a Transforms(...), got {spec!r}")


def apply_transforms(unit: tf.Tensor, u: tf.Tensor, spec: Transforms, shape: tuple[int, ...]) -> tf.Tensor:
    """Warp a batch of unit images; ``u`` is ``(B, N_RANDOM)`` uniform in ``[-1, 1]``."""
    hwc = image_layout(shape)
    if hwc is None or not spec.active:
        return unit
    h, w, c = hwc
    x = tf.reshape(unit, (-1, h, w, c))
    if spec.warps:
        tx, ty = u[:, 0] * spec.jitter, u[:, 1] * spec.jitter
        lo, hi = spec.scale
        s = lo + (u[:, 2] + 1.0) * 0.5 * (hi - lo)
        theta = u[:, 3] * (spec.rotate * math.pi / 180.0)
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        cos, sin = tf.cos(theta) / s, tf.sin(theta) / s
        a0, a1, b0, b1 = cos, sin, -sin, cos
        a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
        b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
        zeros = tf.zeros_like(a0)
        matrix = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=matrix, output_shape=tf.constant([h, w], tf.int32),
            fill_value=tf.constant(0.0, x.dtype), interpolation="BILINEAR", fill_mode="REFLECT",
        )
    if spec.blur > 0:
        x = gaussian_blur(x, spec.blur)
    return tf.reshape(x, tf.shape(unit))


def gaussian_kernel(sigma: float, radius: int | None = None) -> np.ndarray:
    """Normalized 1-D Gaussian kernel (radius ``ceil(3 sigma)`` by default)."""
    radius = math.ceil(3 * sigma) if radius is None else radius
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def gaussian_blur(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of ``(B, H, W, C)`` images with reflect padding."""
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    c = x.shape[-1]
    h, w = x.shape[1], x.shape[2]
    r = min(r, h - 1, w - 1)
    k = gaussian_kernel(sigma, r)
    x = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
    kx = tf.constant(np.tile(k[None, :, None, None], (1, 1, c, 1)))
    ky = tf.constant(np.tile(k[:, None, None, None], (1, 1, c, 1)))
    x = tf.nn.depthwise_conv2d(x, kx, strides=[1, 1, 1, 1], padding="VALID")
    return tf.nn.depthwise_conv2d(x, ky, strides=[1, 1, 1, 1], padding="VALID")
