"""The ascent as an animated GIF (``amaxcheck show --gif``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .guard import IMAGE_MARK


def ascent_gif(model: Any, classes: Any, *, steps: int, best: int, size: int, **kwargs: Any) -> bytes:
    """An animated GIF of one sample's ascent at steps 0, 1, 2, 4, ... ``steps``.

    Each frame is a fresh :func:`amaxcheck.synthesize` run stopped after k steps.
    Per-sample random streams make a k-step run an exact prefix of the full run,
    so the frames are the real trajectory (best iterate so far). Cost: about
    twice one run, since the frame lengths double.
    """
    import io

    import amaxcheck

    marks = sorted({min(steps, 2 ** i) for i in range(max(1, steps).bit_length() + 1)})
    frames: list[Any] = []
    for k in marks:
        res = amaxcheck.synthesize(model, classes, steps=k, progress=False, **kwargs)
        view = next(iter(res))
        if not frames and res.initial_images is not None:
            frames.append(_frame(res.initial_images[best], res.input_range, size, "step 0"))
        frames.append(_frame(view.images[best], res.input_range, size, f"step {k}  p={float(view.confidence[best]):.2f}"))
    buf = io.BytesIO()
    durations = [400] * (len(frames) - 1) + [1500]
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   comment=IMAGE_MARK.encode())  # how a rerun knows it may replace the file
    return buf.getvalue()


def _frame(image: Any, input_range: Sequence[float], size: int, caption: str) -> Any:
    """One GIF frame: the upscaled image with a caption strip under it."""
    import numpy as np
    from PIL import Image, ImageDraw

    from .artifacts import to_uint8, upscale

    tile = upscale(to_uint8(image[None], input_range)[0], size)
    rgb = np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile
    canvas = Image.new("RGB", (rgb.shape[1], rgb.shape[0] + 14), "white")
    canvas.paste(Image.fromarray(rgb), (0, 0))
    ImageDraw.Draw(canvas).text((2, rgb.shape[0] + 1), caption, fill="black")
    return canvas
