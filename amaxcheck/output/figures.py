"""The HTML report's pictures, from a :class:`~amaxcheck.verdict.report.Report`: PNGs inline, per class.

For each checked class: the ideal input of every restart (the best marked,
each captioned with the model's probability), the learned-nothing control's
ideal input (:attr:`ControlEvidence.images <amaxcheck.verdict.controls.ControlEvidence>`),
the first real reference examples of the class, and the best restart's
ranking. Images are encoded as the artifacts are (:func:`~amaxcheck.output.artifacts.to_uint8`,
:func:`~amaxcheck.output.artifacts.png_bytes`) at their own size; the page
scales them up without smoothing. :func:`html_report` and
:func:`write_html_report` put a report on a page.
"""
from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import defaults as D
from .._validate import integer
from .artifacts import png_bytes, to_uint8, trigger_tiles
from .html import ClassFigures, Picture, report_html, write_html
from .reporting import build_document, versions

#: classes in a class's ranking beside the target (at least; more when the check used a larger top-k)
RUNNER_UPS = 3
#: what the best restart's caption starts with
BEST_MARK = "\u2605 best: "


def picture(image_uint8: np.ndarray, caption: str, *, title: str = "", best: bool = False) -> Picture:
    """A :class:`~amaxcheck.output.html.Picture` of one ``(H, W, C)`` uint8 image (PNG, base64, inline)."""
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(image_uint8)).decode("ascii")
    return Picture(uri, int(image_uint8.shape[1]), int(image_uint8.shape[0]), caption, title, best)


def report_control(report: Any) -> Any:
    """The learned-nothing control ``report``'s verdict was measured against, if ``check`` cached it, else ``None``.

    Found through the report's model while that model is alive; never builds a control.
    """
    from ..ascent.config import AscentConfig
    from ..verdict.controls import cached_control

    result: Any = getattr(report, "result", None)
    model = getattr(result, "model", None)  # held weakly by the result: take it once
    if model is None or getattr(report, "verdict", None) is None:
        return None
    return cached_control(model, result.config or AscentConfig(), result.n_classes)


def class_figures(report: Any, *, reference: Any = None, reference_labels: Any = None, control: Any = None,
                  examples: int = D.HTML_REFERENCE_EXAMPLES) -> dict[int, ClassFigures]:
    """The pictures of each class of ``report`` (keyed by class index); ``{}`` for a report without its result.

    ``reference``/``reference_labels``: the real images (raw input range) and
    their integer classes (or multi-hot rows, for a multi-label head); the first
    ``examples`` of each class are shown.
    ``control``: the :class:`~amaxcheck.verdict.controls.ControlEvidence` to show
    (default: :func:`report_control`).
    """
    result = getattr(report, "result", None)
    if result is None:
        return {}
    examples = integer(examples, "examples", 0)
    control = control if control is not None else report_control(report)
    ref_x = None if reference is None else np.asarray(reference)
    ref_y = None if reference_labels is None or ref_x is None else np.asarray(reference_labels).astype(np.int64)
    if ref_y is not None and ref_y.ndim == 2 and ref_y.shape[1] == 1:  # a binary head's (n, 1) column of 0/1
        ref_y = ref_y[:, 0]
    label_of: Callable[[int], str] = result.label_of
    out = {}
    for cr in report.classes:
        restarts, ranking = _restarts(result, cr.index, max(RUNNER_UPS + 1, len(cr.top_k)))
        control_picture, control_note = _control(control, cr.index, label_of, result.input_range)
        references, reference_note = _references(ref_x, ref_y, cr.index, examples, result.input_range)
        notes = tuple(n for n in (control_note, reference_note) if n)
        out[int(cr.index)] = ClassFigures(restarts, control_picture, references, ranking, notes,
                                          _trigger_pictures(getattr(report, "triggers", None), cr.index))
    return out


def _trigger_pictures(triggers: Any, index: int) -> tuple[Picture, ...]:
    """The reversed trigger of class ``index``: its mask (white = stamped) and its stamp; () without one."""
    result = getattr(triggers, "result", None)
    if result is None or index not in {int(c) for c in result.classes}:
        return ()
    mask, stamp = trigger_tiles(result, index)
    return (picture(mask, "mask", title="the reversed mask: white pixels are replaced by the stamp"),
            picture(stamp, "stamp", title="the reversed pattern where the mask is on"))


def _restarts(result: Any, index: int, ranked: int) -> tuple[tuple[Picture, ...], tuple[tuple[str, float], ...]]:
    view = result.for_class(index)
    images = to_uint8(view.images, result.input_range)
    pictures = tuple(
        picture(img, f"{BEST_MARK if r == view.best else ''}restart {r}, p={float(p):.3f}", best=r == view.best,
                title=f"restart {r}: the model gives {view.label} p={float(p):.4f} on this raw ideal input")
        for r, (img, p) in enumerate(zip(images, view.confidence)))
    probs = np.asarray(view.probabilities[view.best], np.float64)
    order = np.argsort(-probs, kind="stable")[:ranked]
    return pictures, tuple((result.label_of(int(k)), float(probs[k])) for k in order)


def _control(control: Any, index: int, label_of: Callable[[int], str],
             input_range: tuple[float, float]) -> tuple[Picture | None, str]:
    if control is None:
        return None, "no learned-nothing control picture: the verdict was not computed, or its model is gone"
    if getattr(control, "images", None) is None or not control.classes:
        return None, "no learned-nothing control picture: this control kept no images"
    classes = list(control.classes)
    j = classes.index(index) if index in classes else 0
    shown = classes[j]
    reach = float(np.max(control.reach[:, j]))
    image = to_uint8(control.images[j:j + 1], input_range)[0]
    same = shown == index
    caption = f"untrained twin, p={reach:.3f}" if same else f"untrained twin, class {label_of(shown)}, p={reach:.3f}"
    title = (f"the best of {len(control.seeds)} re-initialized twins x {control.restarts} restarts ascending class "
             f"{label_of(shown)}: what this architecture draws having learned nothing")
    note = "" if same else (f"control shown for class {label_of(shown)}: the controls ascend the fixed classes "
                            f"{', '.join(label_of(c) for c in classes)}, not {label_of(index)}")
    return picture(image, caption, title=title), note


def _references(ref_x: np.ndarray | None, ref_y: np.ndarray | None, index: int, examples: int,
                input_range: tuple[float, float]) -> tuple[tuple[Picture, ...], str]:
    if ref_x is None or examples == 0:
        return (), ""
    if ref_y is None:
        return (), "no real examples: the reference images have no labels"
    shows = ref_y[:, index] == 1 if ref_y.ndim == 2 else ref_y == index  # multi-hot labels: the label is present
    rows = np.flatnonzero(shows)[:examples]
    if rows.size == 0:
        return (), "no real examples: the reference data hold no image of this class"
    images = to_uint8(ref_x[rows], input_range)
    return tuple(picture(img, f"reference #{int(i)}") for img, i in zip(images, rows)), ""


# --------------------------------------------------------------------------- a report on a page
def report_document(report: Any, **extras: Any) -> dict[str, Any]:
    """The gate document of a report made outside the gate: the model as the result knows it, the versions, ``extras``."""
    result = report.result
    model = {} if result is None else {"name": result.model_name, "fingerprint": result.model_fingerprint,
                                        "input_shape": list(result.input_shape), "n_classes": int(result.n_classes),
                                        "logits_source": result.logits_source}
    return build_document(report, {"model": model, "versions": versions(), **extras})


def html_report(report: Any, *, reference: Any = None, reference_labels: Any = None,
                doc: Mapping[str, Any] | None = None) -> str:
    """The HTML page of ``report`` (see :func:`amaxcheck.output.html.report_html`); ``doc`` defaults to :func:`report_document`."""
    figures = class_figures(report, reference=reference, reference_labels=reference_labels)
    return report_html(doc if doc is not None else report_document(report), figures)


def write_html_report(report: Any, path: str | os.PathLike[str], *, reference: Any = None,
                      reference_labels: Any = None) -> Path:
    """Write ``report`` as one self-contained HTML file (images inline, no script, no URL); returns the path.

    Every class's ideal input of each restart beside the learned-nothing
    control's and, with labelled ``reference`` images, the class's first real
    examples; the verdict, its reasons and its signals on top. Written
    atomically. The gate's ``--html`` and the plugin's ``--amax-html`` make the same page.
    """
    return write_html(path, html_report(report, reference=reference, reference_labels=reference_labels))
