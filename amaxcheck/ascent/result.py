"""The value :func:`amaxcheck.synthesize` returns: plain data (arrays and settings). NumPy only, no TensorFlow.

A :class:`SynthesisResult` holds no model: it pickles, caches and compares
by value. It remembers the model it was made from only through a weak
reference (:attr:`SynthesisResult.model`), so :func:`amaxcheck.check` can
default to that model while it is alive, without keeping it alive.
"""
from __future__ import annotations

import io
import json
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_with
from ..errors import ClassSelectionError, UnitSelectionError


@dataclass(frozen=True)
class ClassView:
    """The restarts of one class, as returned by :meth:`SynthesisResult.for_class`."""

    index: int
    label: str
    images: np.ndarray  # (restarts, *input_shape), raw input range
    probabilities: np.ndarray  # (restarts, n_classes), real model
    best: int  # restart with the highest target probability

    @property
    def confidence(self) -> np.ndarray:
        """Target-class probability of each restart (real model)."""
        return self.probabilities[:, self.index]

    @property
    def best_image(self) -> np.ndarray:
        return self.images[self.best]


@dataclass(frozen=True)
class UnitView:
    """The restarts of one unit of a layer (layer mode), as returned by :meth:`SynthesisResult.for_unit`."""

    layer: str
    unit: int
    images: np.ndarray  # (restarts, *input_shape), raw input range
    activations: np.ndarray  # (restarts,) the unit's mean activation (channel mean) on each image
    probabilities: np.ndarray  # (restarts, n_classes), real model
    best: int  # restart with the highest activation

    @property
    def best_image(self) -> np.ndarray:
        return self.images[self.best]

    @property
    def best_activation(self) -> float:
        return float(self.activations[self.best])


@dataclass
class SynthesisResult:
    """Ideal inputs for a set of classes, one per (class, restart), class-major.

    In layer mode (``synthesize(model, layer=..., units=...)``, ``mode == "layer"``)
    they are one per (unit, restart), unit-major: ``units`` holds each sample's unit,
    ``activations`` the unit's mean activation on it, ``classes`` is ``-1`` (no target
    class), and views are by unit (:meth:`for_unit`, :meth:`unit_views`).

    Attributes
    ----------
    images : float32 array ``(n_samples, *input_shape)``
        In the model's raw input range (``input_range``), ready to feed to the model.
    classes, restarts : int arrays ``(n_samples,)``
        Target class and restart number of each image.
    probabilities : float32 array ``(n_samples, n_classes)``
        The *real, unmodified* model's class probabilities on ``images``.
    history : float32 array ``(n_samples, ceil(steps / stride))``
        Objective value at ascent steps 0, stride, 2 * stride, ... (NaN after a sample
        stopped early). ``stride`` is ``settings["history_stride"]``: 1 up to 4096 steps,
        then the least that keeps at most 4096 values per sample.
    steps_run : int array ``(n_samples,)``
        Steps each sample actually took (early stop or the step budget).
    mode : "classes" | "layer"
        What the samples are of; ``layer`` names the visualized layer in layer mode.
    units, activations : arrays ``(n_samples,)``, layer mode only
        Each sample's unit, and that unit's mean activation (channel mean) on its image.
    settings : dict
        Every setting used, including ``seed``; enough to reproduce the run.
    logits_source : str
        Where class scores were read (pre-softmax tensor, raw output, or log-probabilities fallback).
    head : "softmax" | "binary" | "multilabel"
        What the classes mean: exclusive (probabilities sum to one), a single sigmoid
        read as two classes ``[1 - p, p]``, or independent labels (each probability
        on its own; they need not sum to one).
    """

    images: np.ndarray
    classes: np.ndarray
    restarts: np.ndarray
    probabilities: np.ndarray
    history: np.ndarray
    steps_run: np.ndarray
    settings: dict
    input_range: tuple[float, float]
    n_classes: int
    labels: list[str] | None
    logits_source: str
    model_name: str
    model_fingerprint: str
    wall_time: float
    diverged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    initial_images: np.ndarray | None = None  # the random starts, raw range (to measure what the ascent added)
    config: Any = None  # the AscentConfig that made it (rerun controls with config.replace(...))
    head: str = "softmax"
    mode: str = "classes"  # "layer": samples are units of ``layer``
    layer: str | None = None
    units: np.ndarray | None = None  # (n_samples,) each sample's unit (layer mode)
    activations: np.ndarray | None = None  # (n_samples,) that unit's mean activation on the image (layer mode)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SynthesisResult):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                    return False
            elif f.name != "wall_time" and a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    # ------------------------------------------------------------- the model, weakly
    @property
    def model(self) -> Any:
        """The model this result was synthesized from while it is alive, else ``None`` (never kept alive)."""
        ref = self.__dict__.get("_model_ref")
        return ref() if ref is not None else None

    def bind(self, model: Any) -> SynthesisResult:
        """Remember ``model`` (weakly) as the one :func:`amaxcheck.check` defaults to; returns ``self``."""
        try:
            self.__dict__["_model_ref"] = weakref.ref(model)
        except TypeError:  # not weak-referenceable: remember nothing
            self.__dict__.pop("_model_ref", None)
        return self

    def freeze(self) -> SynthesisResult:
        """Make the arrays read-only (for results shared through a cache); returns ``self``."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_model_ref", None)
        return state

    @property
    def seed(self) -> int:
        return int(self.settings["seed"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    @property
    def target_probability(self) -> np.ndarray:
        """Probability of each sample's own target class, ``(n_samples,)`` (NaN in layer mode: no target class)."""
        if self.mode == "layer":
            return np.full(len(self), np.nan, np.float32)
        return self.probabilities[np.arange(len(self)), self.classes]

    @property
    def class_indices(self) -> list[int]:
        """The distinct target classes, in the order they were requested (none in layer mode)."""
        if self.mode == "layer":
            return []
        return _distinct(self.classes)

    @property
    def unit_indices(self) -> list[int]:
        """Layer mode: the distinct units, in the order they were requested (none in class mode)."""
        return [] if self.units is None else _distinct(self.units)

    def for_unit(self, unit: int) -> UnitView:
        """Layer mode: all restarts of one unit of :attr:`layer`."""
        if self.mode != "layer" or self.units is None or self.activations is None:
            raise UnitSelectionError("this result holds classes, not the units of a layer; use for_class(c), or "
                                     "synthesize(model, layer='name', units=...) for units")
        if isinstance(unit, (bool, np.bool_)) or not isinstance(unit, (int, np.integer)) \
                or int(unit) not in self.unit_indices:
            raise UnitSelectionError(f"unit {unit!r} of layer {self.layer!r} was not synthesized in this result "
                                     f"(it holds units {self.unit_indices}); pass it in units= when calling synthesize")
        mask = self.units == int(unit)
        acts = self.activations[mask]
        return UnitView(layer=str(self.layer), unit=int(unit), images=self.images[mask], activations=acts,
                        probabilities=self.probabilities[mask], best=int(np.argmax(acts)))

    def unit_views(self) -> list[UnitView]:
        """Layer mode: one view per unit, in the order requested."""
        return [self.for_unit(u) for u in self.unit_indices]

    def label_of(self, index: int) -> str:
        """Human-readable name of class ``index`` (its label, or its number)."""
        if self.labels is not None and 0 <= index < len(self.labels):
            return str(self.labels[index])
        return str(index)

    def for_class(self, cls: int | str) -> ClassView:
        """All restarts of one class, by index or label."""
        self._require_classes(f"for_class({cls!r})")
        index = self._resolve(cls)
        mask = self.classes == index
        probs = self.probabilities[mask]
        return ClassView(
            index=index,
            label=self.label_of(index),
            images=self.images[mask],
            probabilities=probs,
            best=int(np.argmax(probs[:, index])),
        )

    def __iter__(self) -> Iterator[ClassView]:
        self._require_classes("iterating over classes")
        for c in self.class_indices:
            yield self.for_class(c)

    def best_images(self) -> np.ndarray:
        """One image per class (the restart with the highest target probability); layer mode: per unit (highest activation)."""
        views: Sequence[ClassView | UnitView] = self.unit_views() if self.mode == "layer" else list(self)
        return np.stack([view.best_image for view in views])

    def _require_classes(self, what: str) -> None:
        if self.mode == "layer":
            raise ClassSelectionError(f"{what}: this result visualizes units {self.unit_indices} of layer "
                                      f"{self.layer!r} and has no classes; use for_unit(u) or unit_views()")

    def _resolve(self, cls: int | str) -> int:
        if isinstance(cls, str):
            if self.labels is None or cls not in self.labels:
                raise ClassSelectionError(f"no class labelled {cls!r} in this result; known labels: {self.labels}")
            index = self.labels.index(cls)
        else:
            index = int(cls)
        if index not in set(self.classes.tolist()):
            raise ClassSelectionError(
                f"class {cls!r} was not synthesized in this result (it holds classes {self.class_indices}); "
                "pass it in `classes=` when calling synthesize"
            )
        return index

    # ------------------------------------------------------------ persistence
    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no arrays); layer mode adds ``mode``, ``layer`` and ``units``."""
        out = {
            "model_name": self.model_name,
            "model_fingerprint": self.model_fingerprint,
            "n_classes": self.n_classes,
            "input_shape": list(self.input_shape),
            "input_range": list(self.input_range),
            "logits_source": self.logits_source,
            "head": self.head,
            "settings": self.settings,
            "wall_time_s": round(self.wall_time, 3),
        }
        if self.mode == "layer":
            out.update(mode=self.mode, layer=self.layer, units=self.unit_indices)
        return out

    def save_npz(self, path) -> Path:
        """Write images, classes, restarts, probabilities and history to ``path`` atomically; return the path."""

        def write(f):
            buf = io.BytesIO()
            np.savez_compressed(
                buf,
                images=self.images,
                classes=self.classes,
                restarts=self.restarts,
                probabilities=self.probabilities,
                history=self.history,
                summary=np.array(json.dumps(self.summary(), default=str)),
                **({} if self.units is None or self.activations is None
                   else {"units": self.units, "activations": self.activations}),
            )
            f.write(buf.getvalue())

        return atomic_write_with(path, write)

    def subset(self, mask: Sequence[bool] | np.ndarray) -> SynthesisResult:
        """A result holding only the samples where ``mask`` is true."""
        m = np.asarray(mask, bool)
        return SynthesisResult(
            images=self.images[m], classes=self.classes[m], restarts=self.restarts[m],
            probabilities=self.probabilities[m], history=self.history[m], steps_run=self.steps_run[m],
            settings=self.settings, input_range=self.input_range, n_classes=self.n_classes,
            labels=self.labels, logits_source=self.logits_source, model_name=self.model_name,
            model_fingerprint=self.model_fingerprint, wall_time=self.wall_time,
            diverged=self.diverged[m] if self.diverged.size else self.diverged,
            initial_images=None if self.initial_images is None else self.initial_images[m], config=self.config,
            head=self.head,
            mode=self.mode, layer=self.layer, units=None if self.units is None else self.units[m],
            activations=None if self.activations is None else self.activations[m],
        ).bind_like(self)

    def bind_like(self, other: SynthesisResult) -> SynthesisResult:
        """Share ``other``'s weak model reference; returns ``self``."""
        ref = other.__dict__.get("_model_ref")
        if ref is not None:
            self.__dict__["_model_ref"] = ref
        return self

    def __repr__(self) -> str:
        if self.mode == "layer":
            acts = self.activations if self.activations is not None else np.zeros(0)
            return (f"<SynthesisResult {self.model_name}: layer {self.layer!r}, {len(self.unit_indices)} units x "
                    f"{self.settings.get('restarts')} restarts, input {self.input_shape}, activation median "
                    f"{np.median(acts) if len(acts) else float('nan'):.3g}, {self.wall_time:.1f}s>")
        p = self.target_probability
        return (
            f"<SynthesisResult {self.model_name}: {len(self.class_indices)} classes x "
            f"{self.settings.get('restarts')} restarts, input {self.input_shape}, "
            f"target p median {np.median(p) if len(p) else float('nan'):.3f}, {self.wall_time:.1f}s>"
        )


def _distinct(values: np.ndarray) -> list[int]:
    """The distinct values of an int array, in order of first appearance."""
    seen: dict[int, None] = {}
    for v in values.tolist():
        seen.setdefault(int(v), None)
    return list(seen)
