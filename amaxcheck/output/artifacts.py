"""Pictures and files a person opens when a check fails: PNGs, a labelled grid, ``.npz``, ``summary.json``.

Used by both the pytest plugin and the gate CLI. Every file is written atomically.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_bytes
from .text import slug

TILE = 96  # minimum tile side in the grid, pixels


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
    from PIL import Image

    img = image[..., 0] if image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | Path, image_uint8: np.ndarray) -> Path:
    """Write one ``(H, W, C)`` uint8 image as PNG, atomically."""
    return atomic_write_bytes(path, png_bytes(image_uint8))


def grid_image(images_uint8: np.ndarray, captions: Sequence[Sequence[str]], columns: int | None = None,
               colors: Sequence[str] | None = None) -> np.ndarray:
    """A labelled grid: one upscaled tile per image with up to three caption lines under it."""
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
        for j, text in enumerate(caption):
            color = (colors[i] if colors else "black") if j == len(caption) - 1 else "black"
            draw.text((x0, y0 + th + 2 + j * line_h), str(text)[:18], fill=color, font=font)
    return np.asarray(canvas)


def class_stem(index: int, label: Any) -> str:
    """File stem of a class's PNG and ``.npz``: ``class_007_seven``."""
    return f"class_{int(index):03d}_{slug(label, keep='_.-', limit=40, fallback='class', tidy_cut=False)}"


def write_artifacts(report: Any, folder: str | Path, *, summary_extra: dict | None = None) -> dict[str, Path]:
    """Write the grid, one PNG and one ``.npz`` (all restarts) per class, all arrays and ``summary.json``.

    Sets each class report's ``image_path``. ``summary.json`` is the gate document
    (:func:`amaxcheck.output.reporting.build_document` with ``summary_extra``), and
    the grid's captions come from it, so they say what the JSON says. Returns the
    written paths by role.
    """
    from . import reporting

    folder = Path(folder)
    result = report.result
    written: dict[str, Path] = {}
    tiles = []
    for cr in report.classes:
        img = to_uint8(cr.image[None], result.input_range)[0]
        stem = class_stem(cr.index, cr.label)
        path = save_png(folder / f"{stem}.png", upscale(img))
        cr.image_path = str(path)
        written[f"class_{cr.index}"] = path
        written[f"class_{cr.index}_arrays"] = result.subset(result.classes == cr.index).save_npz(folder / f"{stem}.npz")
        tiles.append(img)
    doc = reporting.build_document(report, summary_extra or {})
    if tiles:
        captions = [reporting.grid_caption(c) for c in doc["classes"]]
        colors = ["green" if caption[-1] == "PASS" else "red" for caption in captions]
        written["grid"] = save_png(folder / "grid.png", grid_image(np.stack(tiles), captions, colors=colors))
    written["arrays"] = folder / "ideal_inputs.npz"
    result.save_npz(written["arrays"])
    written["summary"] = reporting.write_json(doc, folder / "summary.json")
    return written
