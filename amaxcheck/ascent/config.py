"""One frozen, validated value for every setting of an ascent: :class:`AscentConfig`.

The API (``synthesize(model, config=...)`` or its keywords), the gate CLI,
``[tool.amaxcheck]``, the pytest options and marker, and the hypothesis
``ascent_settings`` strategy all produce one. It is validated once, when it
is built; it is hashable (the objective *value* itself is part of the key:
objectives are frozen dataclasses, so two different custom objectives are two
different configs), so it keys the compiled-engine and result caches; its
:meth:`~AscentConfig.as_dict` is the JSON ``settings``; and
:meth:`~AscentConfig.replace` derives a run (e.g. the control's).

This module imports no TensorFlow.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validate as V
from .. import defaults as D
from ..errors import ArgumentTypeError, ConfigError
from .objectives import Objective, default_objective
from .parameterization import BY_NAME, Parameterization, as_parameterization
from .transforms import Transforms

#: the largest ``steps`` accepted (a run this long takes hours even on a small model; memory does not grow with it)
MAX_STEPS = 1_000_000


@dataclass(frozen=True)
class FrozenArray:
    """A read-only array compared and hashed by content (for ``fixed_inputs``)."""

    array: np.ndarray = field(compare=False)
    digest: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        arr = np.array(self.array, copy=True)
        arr.setflags(write=False)
        object.__setattr__(self, "array", arr)
        h = hashlib.sha256(f"{arr.dtype}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
        object.__setattr__(self, "digest", h.hexdigest())


@dataclass(frozen=True)
class AscentConfig:
    """Every setting of an ascent, validated once; unset ones take :mod:`amaxcheck.defaults`.

    Derive variants with :meth:`replace`::

        config = AscentConfig(steps=128, restarts=2, input_range=(-1, 1))
        quick = config.replace(steps=32)

    Attributes
    ----------
    restarts : int
        Independent starts per class (different seeds), all in the same batch.
    steps : int
        Ascent steps per sample (Adam on the parameterization), at most :data:`MAX_STEPS`.
    seed : int
        Drives every random number (starts and transforms): same seed, model and
        settings give bit-identical images on CPU.
    input_range : (lo, hi)
        The model's raw input range, e.g. ``(0, 255)`` for models that rescale
        internally, ``(-1, 1)`` for MobileNet-style inputs. Inputs are kept strictly
        inside it by a sigmoid. Must fit in float32.
    objective : Objective, optional
        What to maximize (see :mod:`amaxcheck.objectives`); default
        ``class_log_prob() - tv_weight * total_variation()`` (log-probability raises
        confidence; plain logits need not).
    tv_weight : float
        Weight of total variation in the default objective (ignored with ``objective``).
    parameterization : "pixel" | "fourier" | a parameterization value
        How variables become an input (see :mod:`amaxcheck.ascent.parameterization`).
    transforms : Transforms | "auto" | None
        Per-step random jitter/zoom/rotation/blur; "auto" scales with image size.
    learning_rate : float
        Adam step size in parameter space.
    stop_at : float, optional
        Stop a sample once its target probability reaches this value (best iterate kept).
    stop_plateau : int or None
        Stop a sample once its clean objective has not risen by more than
        :data:`~amaxcheck.defaults.PLATEAU_TOL` for this many steps (default
        :data:`~amaxcheck.defaults.STOP_PLATEAU`; checked between chunks; best
        iterate kept). A stopped sample leaves the batch, so the steps it skips
        cost nothing. ``None`` (or ``"off"``) runs every sample all ``steps``;
        the learned-nothing controls still stop at :data:`~amaxcheck.defaults.STOP_PLATEAU`.
    check_every : int
        Steps per compiled chunk; best iterate and early stop are checked between chunks.
    max_batch : int
        Most samples optimized at once (memory bound for large models).
    preprocess : callable, optional
        Applied in-graph to the raw input before the model (e.g. a normalization the model expects).
    input, output, fixed_inputs : optional
        Multi-input models: which input to optimize and ``{name: array}`` values for the
        others. Multi-output models: which output holds the class scores.
    input_shape : tuple, optional
        Needed for subclassed models or inputs with undefined sizes.
    jit_compile : bool
        XLA-compile the chunk (measured slower on CPU for small CNNs; off by default).
    head : "auto" | "softmax" | "binary" | "multilabel"
        What the class scores mean. ``"auto"`` reads it from the model: one sigmoid
        unit is ``"binary"`` (two classes, probabilities ``1 - p`` and ``p``), a final
        sigmoid over several units ``"multilabel"`` (each class its own probability),
        anything else ``"softmax"``. Say it for outputs that cannot show it, e.g. a
        linear multi-label output trained with ``from_logits=True``.
    devices : None | "all" | list of str
        Where the ascent runs. ``None`` (the default): TensorFlow's own placement.
        ``"all"``: every GPU (else every logical CPU device); or device names such
        as ``["/gpu:0", "/gpu:1"]``. With two or more, each chunk's batch is split
        across them by ``tf.distribute.MirroredStrategy`` (one replica per device;
        samples are independent, so the results equal the one-device run up to the
        last bits of float32 that CPU kernels vary with batch size). One device
        (``"all"`` on a machine with one) runs the plain engine on it. Names are
        checked when the engine is built. Not part of a result's identity: it is
        left out of :meth:`as_dict` and of the result cache key (:meth:`result_key`).
    """

    restarts: int = D.RESTARTS
    steps: int = D.STEPS
    seed: int = D.SEED
    input_range: tuple[float, float] = D.INPUT_RANGE
    objective: Objective | None = None
    tv_weight: float = D.TV_WEIGHT
    parameterization: str | Parameterization = D.PARAMETERIZATION
    transforms: str | Transforms | None = D.TRANSFORMS
    learning_rate: float = D.LEARNING_RATE
    stop_at: float | None = None
    stop_plateau: int | None = D.STOP_PLATEAU
    check_every: int = D.CHECK_EVERY
    max_batch: int = D.MAX_BATCH
    preprocess: Callable[..., Any] | None = None
    input: str | int | None = None
    output: str | int | None = None
    fixed_inputs: tuple[tuple[str, FrozenArray], ...] | None = None
    input_shape: tuple[int, ...] | None = None
    jit_compile: bool = False
    head: str = D.HEAD
    devices: str | tuple[str, ...] | None = D.DEVICES

    def __post_init__(self) -> None:
        _set = object.__setattr__
        _set(self, "restarts", V.integer(self.restarts, "restarts", 1))
        _set(self, "steps", V.integer(self.steps, "steps", 1, MAX_STEPS))
        _set(self, "seed", V.integer(self.seed, "seed", 0))
        _set(self, "check_every", V.integer(self.check_every, "check_every", 1))
        _set(self, "max_batch", V.integer(self.max_batch, "max_batch", 1))
        _set(self, "input_range", V.input_range(self.input_range))
        _set(self, "learning_rate", V.number(self.learning_rate, "learning_rate", lo=0.0, lo_open=True))
        _set(self, "tv_weight", V.number(self.tv_weight, "tv_weight", lo=0.0))
        if self.stop_at is not None:
            _set(self, "stop_at", V.number(self.stop_at, "stop_at", lo=0.0, hi=1.0, lo_open=True,
                                           what="a probability in (0, 1]"))
        _set(self, "stop_plateau", V.stop_plateau(self.stop_plateau))
        if self.objective is not None and not isinstance(self.objective, Objective):
            raise ArgumentTypeError(f"objective must be an amaxcheck Objective (see amaxcheck.objectives), got "
                                    f"{type(self.objective).__name__}")
        _set(self, "parameterization", as_parameterization(self.parameterization))
        if self.transforms is None or (isinstance(self.transforms, str) and self.transforms == "none"):
            _set(self, "transforms", Transforms.none())
        if not (isinstance(self.transforms, Transforms) or self.transforms == "auto"):
            raise ConfigError(f"transforms must be 'auto', None or a Transforms(...), got {self.transforms!r}")
        if self.preprocess is not None and not callable(self.preprocess):
            raise ArgumentTypeError(f"preprocess must be a callable taking and returning a tensor, got "
                                    f"{type(self.preprocess).__name__}")
        if not isinstance(self.jit_compile, (bool, np.bool_)):
            raise ArgumentTypeError(f"jit_compile must be True or False, got {self.jit_compile!r}")
        _set(self, "jit_compile", bool(self.jit_compile))
        _set(self, "fixed_inputs", _freeze_fixed(self.fixed_inputs))
        if self.head not in D.HEADS:
            raise ConfigError(f"head={self.head!r} is not a head amaxcheck knows; use one of {', '.join(D.HEADS)}")
        _set(self, "devices", V.devices(self.devices))
        if self.jit_compile and self.devices is not None:
            raise ConfigError(
                f"jit_compile=True cannot be combined with devices={self.devices!r}: XLA reads a variable only on "
                "the device that holds it, and the model's weights stay where they were created. Pass "
                "jit_compile=False with devices (the default; XLA measured slower on CPU for small CNNs), or "
                "jit_compile=True with devices=None (TensorFlow's own placement)")
        if self.input_shape is not None:
            _set(self, "input_shape", tuple(V.integer(d, "input_shape entries", 1) for d in self.input_shape))

    def __repr__(self) -> str:
        """Valid Python naming only the settings that differ from the defaults, e.g. ``AscentConfig(steps=32)``."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = as_parameterization(f.default) if f.name == "parameterization" else f.default
            if value == default:
                continue
            name = getattr(value, "name", None)
            if f.name == "parameterization" and isinstance(name, str) and BY_NAME.get(name) == value:
                value = name
            if f.name == "fixed_inputs":
                value = {k: v.array for k, v in value}
            parts.append(f"{f.name}={value!r}")
        return f"AscentConfig({', '.join(parts)})"

    # ----------------------------------------------------------------- derived
    @property
    def effective_objective(self) -> Objective:
        """The objective the ascent maximizes: ``objective``, or ``class_log_prob() - tv_weight * total_variation()``."""
        return self.objective if self.objective is not None else default_objective(self.tv_weight)

    @property
    def fixed_input_arrays(self) -> dict[str, np.ndarray]:
        """``fixed_inputs`` as ``{name: array}`` (what :func:`~amaxcheck.ascent.model_adapter.adapt` takes)."""
        return {name: frozen.array for name, frozen in (self.fixed_inputs or ())}

    @property
    def adapter_key(self) -> tuple[Any, ...]:
        """The settings that decide how scores are read out of the model."""
        return (self.input, self.output, self.fixed_inputs, self.input_shape, self.head)

    def graph_key(self) -> tuple[AscentConfig, Any]:
        """What shapes the compiled graph: this config without the settings that are inputs of the compiled loop.

        Steps, restarts, seed, learning rate, early stop, chunk length, batch
        size and the objective's numbers (``tv_weight``, the weights of a
        composed objective: :meth:`~amaxcheck.ascent.objectives.Objective.constants`)
        are inputs of the compiled loop, so configs that differ only in them
        share one compiled engine and one trace. ``devices`` stays: another
        placement is another compiled function (though not another result, see
        :meth:`result_key`).
        """
        plain = self.replace(restarts=D.RESTARTS, steps=D.STEPS, seed=D.SEED, learning_rate=D.LEARNING_RATE,
                             stop_at=None, stop_plateau=D.STOP_PLATEAU, check_every=D.CHECK_EVERY, max_batch=D.MAX_BATCH, tv_weight=D.TV_WEIGHT,
                             objective=None)
        return plain, self.effective_objective.skeleton()

    def result_key(self) -> AscentConfig:
        """This config without the settings that only decide where it runs (``devices``): what a result depends on.

        The result and control caches key on it, so a run on two devices reuses
        the one-device result and the other way round.
        """
        return self if self.devices is None else self.replace(devices=None)

    def replace(self, **changes: Any) -> AscentConfig:
        """A copy with some settings changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"AscentConfig has no setting(s) {sorted(unknown)}; settings are {sorted(FIELDS)}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the ``settings`` of reports; callables by name, objectives by ``repr``)."""
        param = self.parameterization
        return {
            "restarts": self.restarts, "steps": self.steps, "seed": self.seed,
            "input_range": list(self.input_range), "objective": repr(self.effective_objective),
            "parameterization": getattr(param, "name", repr(param)),
            "transforms": self.transforms.as_dict() if isinstance(self.transforms, Transforms) else self.transforms,
            "learning_rate": self.learning_rate, "stop_at": self.stop_at, "stop_plateau": self.stop_plateau,
            "check_every": self.check_every,
            "max_batch": self.max_batch,
            "preprocess": None if self.preprocess is None else getattr(self.preprocess, "__name__", "callable"),
            "output": self.output, "jit_compile": self.jit_compile, "head": self.head,
        }

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "settings") -> AscentConfig:
        """Build from a mapping of setting names (e.g. a pytest marker), naming unknown keys with a suggestion."""
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known settings: {', '.join(FIELDS)}"
            raise ConfigError(f"{where}: unknown setting {unknown[0]!r}{hint}")
        return cls(**dict(values))


def _freeze_fixed(value: Any) -> tuple[tuple[str, FrozenArray], ...] | None:
    if value is None:
        return None
    if isinstance(value, tuple) and all(isinstance(v, tuple) and isinstance(v[1], FrozenArray) for v in value):
        return value
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"fixed_inputs must be a mapping {{input name: array}}, got {type(value).__name__}")
    return tuple(sorted((str(k), v if isinstance(v, FrozenArray) else FrozenArray(np.asarray(v)))
                        for k, v in value.items()))


#: names of every setting, in declaration order
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AscentConfig))
