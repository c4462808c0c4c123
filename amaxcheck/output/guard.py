"""What the gate refuses to write: outputs onto its inputs, onto each other, or over files it did not write.

Checked before TensorFlow loads (no NumPy, no TensorFlow here). Paths are
compared after :func:`os.path.realpath` (symlinks and ``..`` resolved) and,
for files that exist, with :func:`os.path.samefile` (hard links).

A file that already exists at an output path is replaced only when it is a
previous amaxcheck output of the same kind, recognized from its first
:data:`PREFIX_BYTES` bytes (never more is read):

* ``json``: the first key of the JSON object is ``"schema_version"`` (how
  every gate document and ``summary.json`` starts);
* ``junit``: the root element (after an optional XML declaration) is
  ``<testsuites name="amaxcheck gate"``;
* ``markdown``: the first line is the gate's heading, ``## ✅ amaxcheck gate
  PASSED`` or ``## ❌ amaxcheck gate FAILED``;
* ``html``: an HTML page whose head opens with the charset and amaxcheck as
  its generator, ``<meta name="generator" content="amaxcheck ...">``;
* ``png``/``gif``: a PNG or GIF carrying amaxcheck's mark (a ``Software``
  text chunk, a GIF comment), which every image amaxcheck writes has.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError

#: the most bytes read from an existing file to decide whether amaxcheck wrote it
PREFIX_BYTES = 65536
#: the mark amaxcheck puts in the images it writes (PNG ``Software`` text chunk, GIF comment)
IMAGE_MARK = "amaxcheck"

_SIGNATURES: dict[str, tuple[str, re.Pattern[bytes]]] = {
    "json": ("gate JSON document", re.compile(rb'\A\s*\{\s*"schema_version"\s*:')),
    "junit": ("JUnit XML report", re.compile(rb'\A\s*(<\?xml[^>]*\?>\s*)?<testsuites\s+name="amaxcheck gate"')),
    "markdown": ("Markdown summary", re.compile("\\A## (\u2705|\u274c) amaxcheck gate (PASSED|FAILED)".encode())),
    "html": ("HTML report", re.compile(rb'\A<!DOCTYPE html>\s*<html[^>]*>\s*<head>\s*<meta charset="utf-8">\s*'
                                       rb'<meta name="generator" content="amaxcheck ')),
    "png": ("PNG image", re.compile(rb"\A\x89PNG\r\n\x1a\n.*?tEXtSoftware\x00" + IMAGE_MARK.encode(), re.DOTALL)),
    "gif": ("GIF animation", re.compile(rb"\AGIF8[79]a.*?\x21\xfe.?" + IMAGE_MARK.encode(), re.DOTALL)),
}


@dataclass(frozen=True)
class Output:
    """One path the command will write: ``kind`` is a key of the signatures above, or ``"folder"``."""

    flag: str
    path: str
    kind: str


@dataclass(frozen=True)
class Input:
    """One path the command reads (the model, ``--labels``, ``--reference``): a file or a folder."""

    flag: str
    path: str


def written_by_amaxcheck(path: str | os.PathLike[str], kind: str) -> bool:
    """True when the file at ``path`` starts the way amaxcheck's ``kind`` output does (see the module doc)."""
    try:
        with open(path, "rb") as f:
            head = f.read(PREFIX_BYTES)
    except OSError:
        return False
    return bool(_SIGNATURES[kind][1].match(head))


def check_outputs(outputs: Sequence[Output], inputs: Sequence[Input],
                  folder_names: re.Pattern[str] | None = None) -> None:
    """Raise :class:`ConfigError` naming the path and the fix if an output would destroy something.

    Refused: an output that is an input file, lies inside an input folder (a
    SavedModel, a reference folder), or (for an output folder) would hold a
    file named like what it writes (``folder_names``) that is an input; two
    outputs on one path; an existing file that is not a previous amaxcheck
    output of the same kind.
    """
    present = [i for i in inputs if i.path and os.path.exists(i.path)]
    for out in outputs:
        for inp in present:
            _refuse_onto_input(out, inp, folder_names)
    for a, b in _pairs(outputs):
        _refuse_same_path(a, b, folder_names)
    for out in outputs:
        if out.kind != "folder" and os.path.isfile(out.path) and not written_by_amaxcheck(out.path, out.kind):
            what = _SIGNATURES[out.kind][0]
            raise ConfigError(f"{out.flag} {out.path!r} already exists and is not an amaxcheck {what}, so the gate "
                              "will not replace it; pick another path or delete the file")


def _pairs(items: Sequence[Output]) -> list[tuple[Output, Output]]:
    return [(a, b) for i, a in enumerate(items) for b in items[i + 1:]]


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _same(a: str, b: str) -> bool:
    if _real(a) == _real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies under it (both resolved)."""
    real, top = _real(path), _real(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def _holds(folder: str, path: str, names: re.Pattern[str]) -> bool:
    """True when ``path`` is directly in ``folder`` under a name the folder's writer uses."""
    real = _real(path)
    return os.path.dirname(real) == _real(folder) and bool(names.fullmatch(os.path.basename(real)))


def _refuse_onto_input(out: Output, inp: Input, names: re.Pattern[str] | None) -> None:
    where = f"{inp.flag} {inp.path!r}"
    if os.path.isdir(inp.path):
        if _inside(out.path, inp.path):
            raise ConfigError(f"{out.flag} {out.path!r} lies inside the {where} folder; writing there would change "
                              f"it; give {out.flag} a path outside it")
    elif out.kind != "folder" and _same(out.path, inp.path):
        raise ConfigError(f"{out.flag} {out.path!r} is the {inp.flag} file {inp.path!r}; writing there would replace it; give "
                          f"{out.flag} another path")
    elif out.kind == "folder" and names is not None and _holds(out.path, inp.path, names):
        raise ConfigError(f"{out.flag} {out.path!r} holds the {where} file under a name the gate writes there; "
                          f"give {out.flag} another folder or move the file")


def _refuse_same_path(a: Output, b: Output, names: re.Pattern[str] | None) -> None:
    if a.kind != "folder" and b.kind != "folder":
        if _same(a.path, b.path):
            raise ConfigError(f"{a.flag} and {b.flag} both name {a.path!r}; give each output its own path")
        return
    folder, other = (a, b) if a.kind == "folder" else (b, a)
    if other.kind == "folder":
        if _inside(a.path, b.path) or _inside(b.path, a.path):
            raise ConfigError(f"{a.flag} {a.path!r} and {b.flag} {b.path!r} overlap; give them separate folders")
        return
    if names is not None and _holds(folder.path, other.path, names):
        raise ConfigError(f"{other.flag} {other.path!r} is a file {folder.flag} {folder.path!r} writes too; give "
                          f"{other.flag} a path outside that folder or with another name")
