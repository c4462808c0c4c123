"""Load the model a user points the gate at, refusing anything that would run untrusted code.

:func:`load_model` accepts

* a ``.keras`` file (or an unzipped ``.keras`` folder holding ``config.json``),
  loaded by Keras with ``safe_mode=True``;
* a legacy ``.h5`` / ``.hdf5`` file, also with ``safe_mode=True``;
* a TensorFlow SavedModel folder (``saved_model.pb``). Keras 3 cannot rebuild a
  SavedModel as a Keras model; it is wrapped, inference-only, in
  :class:`keras.layers.TFSMLayer` inside a one-layer functional model (gradients
  flow through it, so it can be synthesized for). Because a SavedModel is an
  executable TensorFlow graph, Keras itself treats ``TFSMLayer`` loading as
  unsafe, and so does amaxcheck: it needs ``unsafe=True`` (``--unsafe``);
* ``module:function`` -- ``function()`` is imported from ``module`` (the current
  folder is searched first) and called with no arguments; it must return a
  ``keras.Model``. This runs *your* code, by design, like a conftest.

Refused without ``unsafe=True``: any model whose config holds a Python
``lambda`` (a ``Lambda`` layer's bytecode) or a ``TFSMLayer``, and SavedModels.
Nothing is ever unpickled; pickle files are not a supported format at all.
The checks that can run without TensorFlow (the file exists, is a readable zip,
its config holds no unsafe layer) run before TensorFlow is imported, so the
common mistakes fail fast.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ModelLoadError, UnsafeModelError

KERAS_SUFFIXES = (".keras",)
H5_SUFFIXES = (".h5", ".hdf5")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".dill")
_MODULE_FUNCTION = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")
_UNSAFE_HINT = "re-run with --unsafe (unsafe=True) only if you trust the file's source"


# --------------------------------------------------------------------------- classification
def looks_like_module_function(text: str) -> bool:
    """True when ``text`` has the form ``package.module:function``."""
    return bool(_MODULE_FUNCTION.match(text))


def is_module_function(spec: str | os.PathLike) -> bool:
    """True when ``spec`` reads as ``package.module:function`` and is not an existing path."""
    text = os.fspath(spec)
    return looks_like_module_function(text) and not Path(text).exists()


def model_kind(spec: str | os.PathLike) -> str:
    """Classify a model argument: ``"keras"``, ``"keras_dir"``, ``"h5"``, ``"savedmodel"`` or ``"function"``.

    Raises :class:`ModelLoadError` for a missing path, a folder that is no
    model, or an unsupported file type. Imports nothing heavy.
    """
    text = os.fspath(spec)
    if is_module_function(text):
        return "function"
    path = Path(text)
    if not path.exists():
        hint = " (for a Python factory write module:function, e.g. mypkg.models:build)" if ":" in text else ""
        raise ModelLoadError(f"model not found: {text!r} does not exist{hint}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        if (path / "config.json").is_file():
            return "keras_dir"
        raise ModelLoadError(
            f"{text!r} is a folder but not a TensorFlow SavedModel (no saved_model.pb inside) nor an unzipped "
            ".keras model (no config.json); point at the .keras/.h5 file or at the folder written by "
            "model.export(...) / tf.saved_model.save(...)"
        )
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return "keras"
    if suffix in H5_SUFFIXES:
        return "h5"
    if suffix in PICKLE_SUFFIXES:
        raise ModelLoadError(
            f"{text!r} looks like a pickle; amaxcheck never unpickles models (unpickling runs arbitrary code). "
            "Save the model with model.save('model.keras'), or load it yourself in a module:function factory"
        )
    raise ModelLoadError(
        f"unsupported model file {text!r}: expected a .keras file, a legacy .h5 file, a SavedModel folder, "
        "or module:function returning a keras.Model"
    )


# --------------------------------------------------------------------------- config scan (no TensorFlow)
def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def unsafe_parts(config: Any) -> list[str]:
    """Describe every part of a Keras model config that only loads with unsafe deserialization."""
    found = []
    for node in _walk(config):
        cls = node.get("class_name")
        name = (node.get("config") or {}).get("name") if isinstance(node.get("config"), dict) else None
        if cls == "TFSMLayer":
            found.append(f"TFSMLayer {name!r} (loads an external SavedModel graph)")
        elif cls == "Lambda" and (
            any(d.get("class_name") == "__lambda__" for d in _walk(node.get("config")))
            or (node.get("config") or {}).get("function_type") == "lambda"  # Keras 2 .h5 files
        ):
            found.append(f"Lambda layer {name!r} (stores Python bytecode)")
    return found


def _read_keras_config(path: Path) -> Any:
    """The ``config.json`` of a ``.keras`` archive, or a clear error for a truncated/corrupt file."""
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"{str(path)!r} is not a valid .keras file (not a zip archive: truncated or corrupt?); "
            "save it again with model.save('model.keras')"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "config.json" not in names:
                raise ModelLoadError(f"{str(path)!r} is a zip archive without config.json, so not a .keras model")
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(f"cannot read {str(path)!r} as a .keras archive: {exc}; save it again") from exc


def _read_h5_config(path: Path) -> Any:
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py ships with Keras
        return None
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        raise ModelLoadError(f"cannot read {str(path)!r} as an HDF5 model file ({exc}); truncated or not an .h5 model?") from exc
    if raw is None:
        raise ModelLoadError(
            f"{str(path)!r} holds no model_config: it is a weights-only .h5 file; save the whole model "
            "(model.save('model.keras'))"
        )
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError as exc:
        raise ModelLoadError(f"{str(path)!r} has an unreadable model_config ({exc})") from exc


def precheck(spec: str | os.PathLike, *, unsafe: bool = False) -> str:
    """Everything checkable without TensorFlow: existence, format, archive integrity, unsafe layers.

    Returns the :func:`model_kind`. Raises :class:`ModelLoadError` or :class:`UnsafeModelError`.
    """
    kind = model_kind(spec)
    path = Path(os.fspath(spec))
    config = None
    if kind == "keras":
        config = _read_keras_config(path)
    elif kind == "keras_dir":
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read {str(path / 'config.json')!r}: {exc}") from exc
    elif kind == "h5":
        config = _read_h5_config(path)
    elif kind == "savedmodel" and not unsafe:
        raise UnsafeModelError(
            f"{str(path)!r} is a TensorFlow SavedModel: loading it (as keras.layers.TFSMLayer) runs its TensorFlow "
            f"graph, which Keras treats as unsafe; {_UNSAFE_HINT}, or save the model as .keras instead"
        )
    if config is not None and not unsafe:
        parts = unsafe_parts(config)
        if parts:
            raise UnsafeModelError(
                f"refusing to load {str(path)!r}: it needs unsafe deserialization for {', '.join(parts)}, which can run "
                f"arbitrary code; {_UNSAFE_HINT}"
            )
    return kind


# --------------------------------------------------------------------------- loaders (TensorFlow)
def load_model(path: str | os.PathLike, *, unsafe: bool = False) -> Any:
    """Load a ``keras.Model`` from a ``.keras``/``.h5`` file, a SavedModel folder, or ``module:function``.

    Parameters
    ----------
    path : str or PathLike
        See the module docstring for the accepted forms.
    unsafe : bool
        Allow loads that can execute code from the file (``Lambda`` bytecode,
        ``TFSMLayer``, SavedModel graphs). Off by default; never enables unpickling.

    Raises
    ------
    ModelLoadError
        Missing, truncated, corrupt or unsupported model.
    UnsafeModelError
        The model needs unsafe deserialization and ``unsafe`` is false.
    """
    kind = precheck(path, unsafe=unsafe)
    if kind == "function":
        model = _load_function(os.fspath(path))
    elif kind == "savedmodel":
        model = _load_savedmodel(Path(path))
    else:
        model = _load_keras(Path(path), unsafe=unsafe)
    import keras

    if not isinstance(model, keras.Model):
        raise ModelLoadError(
            f"{os.fspath(path)!r} gave a {type(model).__module__}.{type(model).__name__}, not a keras.Model"
        )
    return model


def _load_keras(path: Path, *, unsafe: bool) -> Any:
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "unsafe" in str(exc).lower():
            raise UnsafeModelError(
                f"refusing to load {str(path)!r}: Keras reports it needs unsafe deserialization "
                f"({str(exc).split('.')[0]}); {_UNSAFE_HINT}"
            ) from exc
        raise ModelLoadError(f"Keras cannot load {str(path)!r}: {_first_line(exc)}") from exc
    except (OSError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelLoadError(
            f"Keras cannot load {str(path)!r} ({type(exc).__name__}: {_first_line(exc)}); the file may be truncated, "
            "corrupt, or need custom objects (load it in a module:function factory then)"
        ) from exc


def _load_savedmodel(path: Path) -> Any:
    """Wrap a SavedModel's serving endpoint in a one-layer functional Keras model."""
    import keras

    errors = []
    for endpoint in ("serve", "serving_default"):
        try:
            layer = keras.layers.TFSMLayer(str(path), call_endpoint=endpoint)
            break
        except (ValueError, KeyError) as exc:
            errors.append(f"{endpoint}: {_first_line(exc)}")
        except Exception as exc:  # TensorFlow raises many types for a broken SavedModel
            raise ModelLoadError(f"TensorFlow cannot load the SavedModel {str(path)!r}: {_first_line(exc)}") from exc
    else:
        raise ModelLoadError(f"the SavedModel {str(path)!r} has neither a 'serve' nor a 'serving_default' endpoint "
                             f"({'; '.join(errors)})")
    specs = _endpoint_inputs(layer.call_endpoint_fn)
    if len(specs) != 1:
        raise ModelLoadError(
            f"the SavedModel {str(path)!r} endpoint {layer.call_endpoint!r} takes {len(specs)} inputs; the gate needs "
            "exactly one image input (wrap it in a module:function factory that fixes the others)"
        )
    spec = specs[0]
    shape = tuple(spec.shape)[1:]
    inp = keras.Input(shape=shape, dtype=spec.dtype.name, name="input")
    out = layer(inp)
    if isinstance(out, dict):
        if len(out) != 1:
            raise ModelLoadError(
                f"the SavedModel {str(path)!r} returns {len(out)} outputs {sorted(out)}; the gate needs one class-score "
                "output (wrap it in a module:function factory that picks it)"
            )
        out = next(iter(out.values()))
    return keras.Model(inp, out, name=path.name or "savedmodel")


def _endpoint_inputs(fn: Any) -> list:
    """Flat input TensorSpecs of a restored function or signature."""
    import tensorflow as tf

    sig = getattr(fn, "input_signature", None)
    if sig is None:
        args, kwargs = fn.structured_input_signature
        sig = list(args) + [kwargs[k] for k in sorted(kwargs)]
    return [s for s in tf.nest.flatten(list(sig)) if isinstance(s, tf.TensorSpec)]


def _load_function(spec: str) -> Any:
    """Import ``module`` and call ``function()`` from a ``module:function`` spec."""
    module_name, func_name = spec.split(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # like `python -m`: modules in the current folder are importable (for this import only)
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"cannot import module {module_name!r} for {spec!r} ({_first_line(exc)}); run from the folder that "
            "contains it or install its package"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(f"importing {module_name!r} raised {type(exc).__name__}: {_first_line(exc)}") from exc
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelLoadError(f"module {module_name!r} has no function {func_name!r} (for {spec!r})")
    try:
        return func()
    except Exception as exc:
        raise ModelLoadError(f"{spec}() raised {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- provenance
def source_path(spec: str | os.PathLike) -> Path | None:
    """The file or folder whose bytes identify the model (the module's file for ``module:function``)."""
    text = os.fspath(spec)
    if is_module_function(text):
        module = sys.modules.get(text.split(":")[0])
        file = getattr(module, "__file__", None)
        return Path(file) if file else None
    return Path(text)


def sha256_of(spec: str | os.PathLike) -> str | None:
    """SHA-256 of a model file's bytes, or of a folder's files (relative path and bytes, in sorted order).

    For ``module:function`` it is the module file's hash (the weights it loads
    are not covered); ``None`` when there is nothing on disk to hash.
    """
    path = source_path(spec)
    if path is None or not path.exists():
        return None
    h = hashlib.sha256()
    if path.is_file():
        _hash_file(h, path)
        return h.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(file.relative_to(path).as_posix().encode() + b"\0")
        _hash_file(h, file)
    return h.hexdigest()


def _hash_file(h: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
