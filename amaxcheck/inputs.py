"""Reading what the user hands the gate besides the model: class labels and reference images.

``read_labels`` (a text file or a JSON list), ``read_reference_npz`` (``x`` and
optional ``y``, never unpickled) and ``read_reference_folder`` (images in class
sub-folders). Every problem is a :class:`~amaxcheck.errors.ConfigError` or
:class:`~amaxcheck.errors.ReferenceDataError` naming the file and the fix.
NumPy and scikit-image are imported only when images are read; no TensorFlow.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import AmaxcheckError, ConfigError, ReferenceDataError

#: file suffixes read from a ``--reference`` folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_labels(path: str) -> list[str]:
    """Class names from a text file (one per line, blank lines ignored) or a JSON list.

    A text file is split on LF only (a trailing CR is dropped, so CRLF files
    work); spaces and tabs around a name are stripped. Every other character
    stays in the name: a CR inside a line, the separators ``str.splitlines``
    would split on (``\x1c``-``\x1e``, ``\x85``, U+2028) and other controls are
    part of the label (the outputs escape them). A JSON list can hold any name.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")  # not read_text: it would turn a CR into a line break
    except FileNotFoundError:
        raise ConfigError(f"--labels file not found: {path!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --labels file {path!r}: {exc}") from None
    if path.lower().endswith(".json") or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"--labels file {path!r} is not valid JSON ({exc}); give a JSON list of names") from None
        if not isinstance(data, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in data):
            raise ConfigError(f"--labels file {path!r} must hold a JSON list of class names, e.g. [\"cat\", \"dog\"]")
        labels = [str(v) for v in data]
    else:
        lines = (line.removesuffix("\r") for line in text.split("\n"))
        labels = [name for name in (line.strip(" \t") for line in lines) if name]
    if not labels:
        raise ConfigError(f"--labels file {path!r} holds no class names")
    dupes = sorted({name for name in labels if labels.count(name) > 1})
    if dupes:
        raise ConfigError(f"--labels file {path!r} repeats names {dupes}; each class needs a unique name")
    return labels


def _npz_arrays(path: str, flag: str, error: type[AmaxcheckError], how_to_save: str) -> dict[str, Any]:
    """Every array of an ``.npz`` file, never unpickled; ``error`` names ``flag`` and how to save the file."""
    import zipfile

    import numpy as np

    if not zipfile.is_zipfile(path):
        raise error(f"cannot read {flag} {path!r}: not an .npz archive (truncated, or another format?); "
                    f"save it with {how_to_save}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise error(f"{flag} {path!r} holds object (pickled) arrays, which amaxcheck never loads; store "
                        "numeric arrays") from None
        raise error(f"cannot read {flag} {path!r} as .npz: {exc}") from None
    except (OSError, EOFError) as exc:
        raise error(f"cannot read {flag} {path!r} as .npz: {exc}") from None


def read_reference_npz(path: str) -> tuple[Any, Any]:
    """``x`` and optional ``y`` from an ``.npz`` (never unpickled)."""
    arrays = _npz_arrays(path, "--reference", ReferenceDataError,
                         "np.savez(path, x=images, y=labels), or pass a folder of images")
    if "x" not in arrays:
        raise ReferenceDataError(f"--reference {path!r} has arrays {sorted(arrays)} but no 'x'; save it with "
                                 "np.savez(path, x=images, y=labels)")
    x, y = arrays["x"], arrays.get("y")
    if x.dtype.kind not in "fiub":
        raise ReferenceDataError(f"--reference {path!r}: x has dtype {x.dtype}; it must be numeric images")
    return x, y


def read_reference_folder(path: str, input_shape: Sequence[int], input_range: Sequence[float],
                          labels: list[str] | None, n_classes: int) -> tuple[Any, Any]:
    """Images in class sub-folders (named by label or by index), scaled into ``input_range``.

    Integer images (uint8, uint16) are mapped from their full dtype range to
    ``input_range``; float images are taken as already in the raw range. Sizes
    must match the model's input exactly (no silent resizing).
    """
    import numpy as np
    from skimage import io as skio

    root = Path(path)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ReferenceDataError(f"--reference folder {path!r} has no class sub-folders (expected {path}/<label>/*.png)")
    shape = tuple(int(s) for s in input_shape)
    lo, hi = float(input_range[0]), float(input_range[1])
    xs, ys = [], []
    for folder in folders:
        index = _folder_class(folder.name, labels, n_classes, path)
        for file in sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            try:
                img = np.asarray(skio.imread(file))
            except Exception as exc:  # noqa: BLE001 - imageio raises many types for unreadable files
                raise ReferenceDataError(f"cannot read reference image {str(file)!r}: {exc}") from None
            xs.append(_fit_image(img, shape, lo, hi, file))
            ys.append(index)
    if not xs:
        raise ReferenceDataError(f"--reference folder {path!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return np.stack(xs).astype(np.float32), np.asarray(ys, np.int64)


def _folder_class(name: str, labels: list[str] | None, n_classes: int, root: str) -> int:
    if labels is not None and name in labels:
        return labels.index(name)
    if name.isdigit() and int(name) < n_classes:
        return int(name)
    known = f"labels {labels}" if labels is not None else f"indices 0..{n_classes - 1}"
    raise ReferenceDataError(f"--reference sub-folder {name!r} in {root!r} names no class; name sub-folders by {known}")


def _fit_image(img: Any, shape: tuple[int, ...], lo: float, hi: float, file: Path) -> Any:
    import numpy as np

    if img.dtype.kind in "ui":
        unit = img.astype(np.float64) / float(np.iinfo(img.dtype).max)
        img = lo + (hi - lo) * unit
    elif img.dtype.kind == "b":
        img = np.where(img, hi, lo)
    img = np.asarray(img, np.float32)
    want_c = shape[2] if len(shape) == 3 else None
    if img.ndim == 3 and img.shape[-1] == 4 and want_c in (3, None):
        img = img[..., :3]  # drop alpha
    if want_c is not None and img.ndim == 2:
        img = np.repeat(img[..., None], want_c, axis=-1) if want_c in (1, 3) else img
    if len(shape) == 2 and img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.shape != shape:
        raise ReferenceDataError(
            f"reference image {str(file)!r} has shape {img.shape} but the model takes {shape}; resize the images to "
            f"{shape[0]}x{shape[1]} (amaxcheck does not resize, so nothing is distorted silently)"
        )
    return img


def read_fixed_inputs(path: str) -> dict[str, Any]:
    """``--fixed-inputs``: ``{input name: one example}`` from an ``.npz`` keyed by input name (never unpickled).

    Shapes are checked against the model later (one example each, with or without a batch axis of 1).
    """
    import numpy as np

    if not Path(path).is_file():
        raise ConfigError(f"--fixed-inputs file not found: {path!r}; give an .npz saved with "
                          "np.savez(path, other_input_name=array)")
    arrays = _npz_arrays(path, "--fixed-inputs", ConfigError,
                         "np.savez(path, other_input_name=array), one array per input that is not optimized")
    if not arrays:
        raise ConfigError(f"--fixed-inputs {path!r} holds no arrays; save one array per input that is not optimized, "
                          "keyed by the input's name")
    for name, array in arrays.items():
        if array.dtype.kind not in "fiub":
            raise ConfigError(f"--fixed-inputs {path!r}: array {name!r} has dtype {array.dtype}; it must be numeric")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ConfigError(f"--fixed-inputs {path!r}: array {name!r} contains NaN or Inf; give finite values")
    return arrays
