"""Pictures and files a person opens when a check fails: PNGs, a labelled grid, ``.npz``, ``summary.json``.

Used by both the pytest plugin and the gate CLI. Every file is written atomically.

Each run owns what it writes: :func:`write_artifacts` lists the files of a run
in ``amaxcheck-manifest.json`` and, at the next run into the same folder,
first deletes exactly the files that manifest lists (plain names directly in
the folder; never a folder, never a path outside it), so a 2-class run after
a 4-class run leaves no stale class 2 and 3 files, and files of your own in
that folder are never touched.
"""
from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_bytes, atomic_write_text
from ..errors import ConfigError
from .guard import IMAGE_MARK, written_by_amaxcheck
from .text import slug

TILE = 96  # minimum tile side in the grid, pixels
#: the file naming what the last run wrote into an artifacts folder
MANIFEST = "amaxcheck-manifest.json"
#: every name :func:`write_artifacts` writes
ARTIFACT_NAMES = re.compile(r"(trigger_)?class_\d{3,}_[A-Za-z0-9_.\-]*\.(png|npz)|grid\.png|ideal_inputs\.npz|"
                            r"triggers\.npz|summary\.json|" + re.escape(MANIFEST))


def to_uint8(images: np.ndarray, input_range: Sequence[float]) -> np.ndarray:
    """Map ``(N, H, W[, C])`` images or ``(N, F)`` vectors in ``input_range`` to displayable uint8 ``(N, H, W, C)``."""
    lo, hi = float(input_range[0]), float(input_range[1])
    x = np.asarray(images, np.float64)
    if x.ndim == 2:  # vectors: show as a one-row strip
        x = x[:, None, :, None]
    elif x.ndim == 3:
        x = x[..., None]
    unit = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    out = np.round(unit * 255).astype(np.uint8)
    if out.shape[-1] not in (1, 3):  # other channel counts: show the mean
        out = np.round(out.mean(-1, keepdims=True)).astype(np.uint8)
    return out


def upscale(image: np.ndarray, min_side: int = TILE) -> np.ndarray:
    """Nearest-neighbour upscale by an integer factor so the shorter side is at least ``min_side``."""
    factor = max(1, int(np.ceil(min_side / max(1, min(image.shape[:2])))))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 ``(H, W, C)`` image, marked ``Software: amaxcheck`` (how a rerun knows it may replace it)."""
    from PIL import Image, PngImagePlugin

    img = image[..., 0] if image.shape[-1] == 1 else image
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", IMAGE_MARK)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def save_png(path: str | Path, image_uint8: np.ndarray) -> Path:
    """Write one ``(H, W, C)`` uint8 image as PNG, atomically."""
    return atomic_write_bytes(path, png_bytes(image_uint8))


def grid_image(images_uint8: np.ndarray, captions: Sequence[Sequence[str]], columns: int | None = None,
               colors: Sequence[str] | None = None, frame: str | None = None) -> np.ndarray:
    """A labelled grid: one upscaled tile per image with up to three caption lines under it.

    ``frame``: a colour to outline each tile with (in the padding), so white tiles stay visible.
    """
    from PIL import Image, ImageDraw, ImageFont

    n = len(images_uint8)
    columns = columns or min(n, 10)
    rows = (n + columns - 1) // columns
    tiles = [upscale(im) for im in images_uint8]
    th = max(t.shape[0] for t in tiles)
    tw = max(max(t.shape[1] for t in tiles), TILE)
    line_h, pad = 12, 4
    cap_h = line_h * max((len(c) for c in captions), default=0) + pad
    canvas = Image.new("RGB", (columns * (tw + pad) + pad, rows * (th + cap_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for i, (tile, caption) in enumerate(zip(tiles, captions)):
        r, c = divmod(i, columns)
        x0, y0 = pad + c * (tw + pad), pad + r * (th + cap_h + pad)
        rgb = np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile
        canvas.paste(Image.fromarray(rgb), (x0, y0))
        if frame is not None:
            draw.rectangle([x0 - 1, y0 - 1, x0 + tile.shape[1], y0 + tile.shape[0]], outline=frame)
        for j, text in enumerate(caption):
            color = (colors[i] if colors else "black") if j == len(caption) - 1 else "black"
            draw.text((x0, y0 + th + 2 + j * line_h), str(text)[:18], fill=color, font=font)
    return np.asarray(canvas)


def unit_grid(result: Any) -> np.ndarray:
    """The filter grid of a layer-mode result: one tile per unit (its best restart), about square.

    Units are laid out in the order requested, row by row, ``ceil(sqrt(n))`` per
    row; under each tile its unit index and the activation it reaches.
    """
    views = result.unit_views()
    tiles = to_uint8(np.stack([v.best_image for v in views]), result.input_range)
    captions = [[f"unit {v.unit}", f"act {v.best_activation:.3g}"] for v in views]
    return grid_image(tiles, captions, columns=int(np.ceil(np.sqrt(len(views)))), frame="#a0a0a0")


def class_stem(index: int, label: Any) -> str:
    """File stem of a class's PNG and ``.npz``: ``class_007_seven``."""
    return f"class_{int(index):03d}_{slug(label, keep='_.-', limit=40, fallback='class', tidy_cut=False)}"


def write_artifacts(report: Any, folder: str | Path, *, summary_extra: dict | None = None) -> dict[str, Path]:
    """Write the grid, one PNG and one ``.npz`` (all restarts) per class, all arrays and ``summary.json``.

    Sets each class report's ``image_path``. ``summary.json`` is the gate document
    (:func:`amaxcheck.output.reporting.build_document` with ``summary_extra``), and
    the grid's captions come from it, so they say what the JSON says. First
    deletes the files the folder's previous manifest lists, then writes the new
    manifest (before the files, so an interrupted run is still cleaned up by the
    next one). Returns the written paths by role.
    """
    from . import reporting

    folder = Path(folder)
    result = report.result
    stems = {cr.index: class_stem(cr.index, cr.label) for cr in report.classes}
    names = [f"{stem}.{ext}" for stem in stems.values() for ext in ("png", "npz")]
    names += (["grid.png"] if stems else []) + ["ideal_inputs.npz", "summary.json"]
    triggers = getattr(report, "triggers", None)
    trigger_rows = _trigger_rows(report, triggers)
    names += [f"trigger_{stems[cr.index]}.png" for cr, _ in trigger_rows] + (["triggers.npz"] if trigger_rows else [])
    remove_previous(folder)
    write_manifest(folder, names)
    written: dict[str, Path] = {}
    tiles = []
    for cr in report.classes:
        img = to_uint8(cr.image[None], result.input_range)[0]
        path = save_png(folder / f"{stems[cr.index]}.png", upscale(img))
        cr.image_path = str(path)
        written[f"class_{cr.index}"] = path
        written[f"class_{cr.index}_arrays"] = result.subset(result.classes == cr.index).save_npz(
            folder / f"{stems[cr.index]}.npz")
        tiles.append(img)
    trigger_strips: list[tuple[np.ndarray, np.ndarray, Any]] = []
    for cr, tc in trigger_rows:
        mask, stamp = trigger_tiles(report.triggers.result, tc.index)
        strip = np.concatenate([upscale(t) for t in (to_uint8(cr.image[None], result.input_range)[0], mask, stamp)],
                               axis=1)
        tc.image = str(save_png(folder / f"trigger_{stems[cr.index]}.png", strip))
        written[f"trigger_{cr.index}"] = Path(tc.image)
        trigger_strips.append((mask, stamp, tc))
    if trigger_rows:
        written["triggers"] = _save_trigger_arrays(folder / "triggers.npz", report.triggers.result)
    doc = reporting.build_document(report, summary_extra or {})
    if tiles:
        captions = [reporting.grid_caption(c) for c in doc["classes"]]
        colors = ["green" if caption[-1] == "PASS" else "red" for caption in captions]
        if trigger_strips and len(trigger_strips) == len(tiles):
            grid = _grid_with_triggers(tiles, captions, colors, trigger_strips)
        else:
            grid = grid_image(np.stack(tiles), captions, colors=colors)
        written["grid"] = save_png(folder / "grid.png", grid)
    written["arrays"] = folder / "ideal_inputs.npz"
    result.save_npz(written["arrays"])
    written["summary"] = reporting.write_json(doc, folder / "summary.json")
    written["manifest"] = folder / MANIFEST
    return written


def _trigger_rows(report: Any, triggers: Any) -> list[tuple[Any, Any]]:
    """(class report, trigger class) pairs for the classes of the report that have a reversed trigger."""
    if triggers is None or getattr(triggers, "result", None) is None:
        return []
    by_index = {tc.index: tc for tc in triggers.classes}
    return [(cr, by_index[cr.index]) for cr in report.classes if cr.index in by_index]


def trigger_tiles(result: Any, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 tiles of a class's reversed trigger: the mask (white = stamped) and the stamp (pattern where masked)."""
    j = result.row(cls)
    lo, hi = result.input_range
    mask = np.asarray(result.masks[j], np.float64)
    as_image = lo + (hi - lo) * mask
    shape = tuple(result.input_shape)
    if len(shape) == 3:
        as_image = np.repeat(as_image[..., None], shape[-1], axis=-1)
    stamp = result.stamp(cls, np.full((1, *shape), lo, np.float32))[0]
    return to_uint8(as_image[None], (lo, hi))[0], to_uint8(stamp[None], (lo, hi))[0]


def _grid_with_triggers(tiles: list[np.ndarray], captions: list[list[str]], colors: list[str],
                        strips: list[tuple[np.ndarray, np.ndarray, Any]]) -> np.ndarray:
    """The grid with two more rows under each row of ideal inputs: each class's reversed mask and its stamp."""
    columns = min(len(tiles), 10)
    images, caps, cols = [], [], []
    blank = np.full_like(tiles[0], 255)
    for start in range(0, len(tiles), columns):
        part = range(start, min(len(tiles), start + columns))
        pad = columns - len(part)
        images += [tiles[i] for i in part] + [blank] * pad
        caps += [captions[i] for i in part] + [[""]] * pad
        cols += [colors[i] for i in part] + ["black"] * pad
        for row in (0, 1):
            for i in part:
                mask, stamp, tc = strips[i]
                images.append(mask if row == 0 else stamp)
                if row == 0:
                    caps.append([f"mask {100 * tc.mask_fraction:.1f}%", f"index {tc.anomaly_index:.1f}",
                                 "FLAGGED" if tc.flagged else "-"])
                    cols.append("red" if tc.flagged else "black")
                else:
                    caps.append([f"stamp -> {tc.label}", f"moves {100 * tc.success:.0f}%", tc.location])
                    cols.append("black")
            images += [blank] * pad
            caps += [[""]] * pad
            cols += ["black"] * pad
    same = [im if im.shape == images[0].shape else np.full_like(images[0], 255) for im in images]
    return grid_image(np.stack(same), caps, columns=columns, colors=cols, frame="#a0a0a0")


def _save_trigger_arrays(path: Path, result: Any) -> Path:
    """Every class's reversed mask and pattern and their numbers, as ``.npz`` (atomic)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, classes=result.classes, masks=result.masks, patterns=result.patterns,
                        mask_l1=result.mask_l1, success=result.success, reached=result.reached)
    return atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- manifest
def write_manifest(folder: Path, names: Sequence[str]) -> Path:
    """Record the plain file names a run writes into ``folder`` (the manifest itself is implied)."""
    doc = {"amaxcheck_manifest": 1, "files": sorted(set(names))}
    return atomic_write_text(folder / MANIFEST, json.dumps(doc, indent=2) + "\n")


def manifest_files(folder: str | Path) -> list[str] | None:
    """The names the folder's manifest lists, or ``None`` without one; only plain names directly in the folder.

    Raises :class:`ConfigError` for a manifest that is not one amaxcheck wrote.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"] if isinstance(doc, dict) and doc.get("amaxcheck_manifest") == 1 else None
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read {str(path)!r} ({exc}); delete it (amaxcheck writes a new one)") from None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"{str(path)!r} is not an amaxcheck manifest; delete it or pick another artifacts folder")
    return [f for f in files if f not in ("", ".", "..", MANIFEST) and os.path.basename(f) == f and "/" not in f
            and os.sep not in f]


def remove_previous(folder: Path) -> list[str]:
    """Delete the files (or links: never followed) the previous manifest lists; return their names."""
    removed = []
    for name in manifest_files(folder) or []:
        path = folder / name
        if path.is_symlink() or path.is_file():
            path.unlink()
            removed.append(name)
    return removed


def check_artifact_folder(folder: str | Path, flag: str = "--artifacts") -> None:
    """Refuse a folder holding files named like artifacts that no previous amaxcheck run there wrote.

    A folder from before manifests existed is accepted when its ``summary.json``
    is a gate document (its files are then amaxcheck's).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    owned = manifest_files(folder)
    if owned is None and written_by_amaxcheck(folder / "summary.json", "json"):
        return
    foreign = sorted(p.name for p in folder.iterdir()
                     if ARTIFACT_NAMES.fullmatch(p.name) and p.name != MANIFEST and p.name not in (owned or []))
    if foreign:
        raise ConfigError(f"{flag} {str(folder)!r} holds {foreign[0]!r}, which the gate would overwrite but no "
                          f"previous amaxcheck run there wrote (it is not in {MANIFEST}); pick another folder or "
                          "delete the file")
