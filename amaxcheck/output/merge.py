"""``--shard K/N`` and ``amaxcheck merge``: one gate spread over machines, and its parts put back together.

A shard runs the classes ``all_classes[i]`` with ``i % N == K - 1`` of the
selected, ordered class list and writes a *partial* gate document: the usual
keys for its own classes plus ``shard`` {``partial``, ``index``, ``total``,
``classes``, ``all_classes``, ``artifacts``, ``control_reach``, ``figures``}.

Why the merged report equals a single run's:

* each class's numbers depend only on that class's own samples (seeded by
  ``(seed, class, restart)``), the real model and the reference images;
* the learned-nothing control ascends fixed classes with a fixed seed
  (:func:`~amaxcheck.verdict.controls.control_classes`), so every shard builds
  the same control; merge refuses parts whose controls differ by more than
  rounding (1e-3 relative: shards may run on CPUs that round differently) and
  carries the first shard's;
* of the model-level signals, ``weights`` and ``held_out_accuracy`` do not read
  the classes (merge refuses parts where they differ), and ``reach`` does:
  merge recomputes it from every class's confidence and the control's
  ``control_reach``, then decides the verdict again with the same pure
  :func:`~amaxcheck.verdict.decision.decide`; the model's naturalness (the
  median over classes) and ``passed`` are recomputed too.

``figures`` (the HTML page's pictures of each class, inline PNGs) is carried
only when the shard was run with ``--html``, so ``merge --html`` can build the
page without the model. NumPy only, no TensorFlow.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_with
from ..errors import ConfigError, MergeError
from ..verdict.report import jsonable

#: settings keys that may differ between the parts of one gate (each shard's own classes)
_PER_SHARD_SETTINGS = ("classes",)


# --------------------------------------------------------------------------- the shard's side
def shard_section(report: Any, index: int, total: int, classes: Sequence[int], all_classes: Sequence[int], *,
                  artifacts: Any = None, figures: Mapping[int, Any] | None = None) -> dict[str, Any]:
    """The ``shard`` object of a partial document (see the module doc)."""
    from .figures import report_control

    control = report_control(report)
    return jsonable({
        "partial": True, "index": int(index), "total": int(total), "classes": [int(c) for c in classes],
        "all_classes": [int(c) for c in all_classes], "artifacts": None if artifacts is None else str(artifacts),
        "control_reach": None if control is None else np.asarray(control.reach, np.float64).tolist(),
        "figures": None if figures is None else {str(k): dataclasses.asdict(v) for k, v in figures.items()},
    })


def parse_shard(text: Any) -> tuple[int, int]:
    """``"K/N"`` to ``(K, N)`` with ``1 <= K <= N``; raises :class:`~amaxcheck.errors.ConfigError` otherwise."""
    raw = str(text).strip()
    k, sep, n = raw.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(k) <= int(n):
        raise ConfigError(f"--shard must be K/N with 1 <= K <= N (shard K of N, counted from 1, as in pytest-split), "
                         f"like --shard 2/3, got {raw!r}")
    return int(k), int(n)


# --------------------------------------------------------------------------- reading parts
def read_part(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any], Path]:
    """A part as ``(name, document, folder)``: a partial JSON document, or an artifacts folder holding one (summary.json)."""
    p = Path(path)
    file = p / "summary.json" if p.is_dir() else p
    if not file.is_file():
        what = "folder holds no summary.json" if p.is_dir() else "file does not exist"
        raise MergeError(f"merge part {str(path)!r}: the {what}; pass the --json files (or --artifacts folders) "
                         "of gate runs made with --shard K/N")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MergeError(f"merge part {str(path)!r} is not a JSON gate document ({exc}); pass the --json files "
                         "of gate runs made with --shard K/N") from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise MergeError(f"merge part {str(path)!r} is not an amaxcheck gate document; pass the --json files of "
                         "gate runs made with --shard K/N")
    if not isinstance(doc.get("shard"), dict) or not doc["shard"].get("partial"):
        raise MergeError(f"merge part {str(path)!r} is a complete gate report, not a shard's part; merge takes "
                         "the parts of one gate run with --shard K/N")
    return str(path), doc, file.parent


# --------------------------------------------------------------------------- checking parts
def _near(a: Any, b: Any) -> bool:
    """Equal, numbers to 1e-3 relative (the controls of shards run on CPUs that round differently)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_near(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_near(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-4)
    return bool(a == b)


def _differ(parts: Sequence[tuple[str, dict[str, Any], Path]], what: str, value: Any, same: Any = None) -> None:
    same = same or (lambda a, b: a == b)
    first_name, first = parts[0][0], value(parts[0][1])
    for name, doc, _ in parts[1:]:
        if not same(value(doc), first):
            raise MergeError(f"merge parts {first_name!r} and {name!r} come from {what}; merge only the parts of one "
                             "gate run (the same model, settings and reference data, each shard once)")


def _settings(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (doc.get("settings") or {}).items() if k not in _PER_SHARD_SETTINGS}


def _fixed_signals(doc: Mapping[str, Any]) -> list[Any]:
    return [s for s in doc.get("signals") or [] if s.get("name") != "reach"]


def _controls(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (doc.get("controls") or {}).items() if k != "notes"}


def check_parts(parts: Sequence[tuple[str, dict[str, Any], Path]]) -> list[tuple[str, dict[str, Any], Path]]:
    """The parts in shard order, after refusing another model, other settings, a shard twice or one missing."""
    if not parts:
        raise MergeError("merge needs the parts of a sharded gate run: amaxcheck merge PART.json...")
    model = lambda d: {k: (d.get("model") or {}).get(k) for k in ("fingerprint", "sha256", "n_classes", "head")}
    _differ(parts, "different models (weights fingerprint or file hash differ)", model)
    _differ(parts, "runs with different settings", _settings)
    _differ(parts, "runs with different thresholds or --strict", lambda d: (d.get("thresholds"), d.get("strict")))
    _differ(parts, "runs with different class lists or shard counts",
            lambda d: (d["shard"].get("all_classes"), d["shard"].get("total")))
    _differ(parts, "runs whose learned-nothing controls differ", lambda d: [_controls(d), d["shard"].get("control_reach")],
            _near)
    _differ(parts, "runs with different reference data or arithmetic (the weights or held-out accuracy signals "
            "differ)", _fixed_signals)
    _differ(parts, "runs whose trigger checks differ (--triggers in some shards only, or other reference data)",
            lambda d: [[c.get("class"), c.get("mask_l1")] for c in (d.get("triggers") or {}).get("classes", [])],
            _near)
    total = int(parts[0][1]["shard"]["total"])
    seen: dict[int, str] = {}
    for name, doc, _ in parts:
        index = int(doc["shard"]["index"])
        if index in seen:
            raise MergeError(f"merge parts {seen[index]!r} and {name!r} are both shard {index}/{total}; pass each "
                             "shard's part once")
        seen[index] = name
    missing = [k for k in range(1, total + 1) if k not in seen]
    if missing:
        raise MergeError(f"merge is missing shard {', '.join(f'{k}/{total}' for k in missing)} (got "
                         f"{', '.join(f'{k}/{total}' for k in sorted(seen))}); pass the part of every shard")
    ordered = sorted(parts, key=lambda part: int(part[1]["shard"]["index"]))
    all_classes = [int(c) for c in ordered[0][1]["shard"]["all_classes"]]
    got = sorted(int(c["index"]) for _, doc, _ in ordered for c in doc.get("classes", []))
    if got != sorted(all_classes):
        raise MergeError(f"merge parts hold classes {got} but the gate selected {sorted(all_classes)}; a part was "
                         "edited or comes from another run: rerun the shards")
    return ordered


# --------------------------------------------------------------------------- the merged document
def _signal(data: Mapping[str, Any]) -> Any:
    from ..verdict.signals import Signal

    def number(v: Any) -> float:
        return float("nan") if v is None else float(v)

    return Signal(str(data["name"]), number(data.get("value")), number(data.get("null")), data.get("says"),
                  str(data.get("reason", "")), dict(data.get("details") or {}))


def merge_documents(parts: Sequence[tuple[str, dict[str, Any], Path]], command: Sequence[str]) -> dict[str, Any]:
    """The gate document a single run over every shard's classes would have written (see the module doc)."""
    from ..verdict import signals as G
    from ..verdict.decision import decide
    from .reporting import failing_checks

    ordered = check_parts(parts)
    first = ordered[0][1]
    shard = first["shard"]
    position = {int(c): i for i, c in enumerate(shard["all_classes"])}
    classes = sorted((c for _, doc, _ in ordered for c in doc.get("classes", [])),
                     key=lambda c: position[int(c["index"])])
    doc = json.loads(json.dumps(first))  # a deep copy, keys in the single run's order
    doc.pop("shard", None)
    doc["classes"] = classes
    model = doc.get("model") or {}
    if doc.get("verdict") is not None:
        signals = [_signal(s) for s in first.get("signals") or []]
        if shard.get("control_reach") is not None:
            chance = 0.5 if model.get("head") == "multilabel" else 1.0 / int(model.get("n_classes") or 1)
            reach = G.reach(np.array([np.nan if c.get("confidence") is None else float(c["confidence"])
                                      for c in classes]), np.asarray(shard["control_reach"], np.float64).ravel(), chance)
            signals = [reach if s.name == "reach" else s for s in signals]
        decision = decide(signals)
        doc.update(verdict=decision.verdict, degenerate=decision.degenerate, degeneracy=decision.degeneracy,
                   reasons=list(decision.reasons), signals=jsonable([s.to_dict() for s in decision.signals]))
    nats = [float(c["naturalness"]) for c in classes if c.get("naturalness") is not None]
    doc["naturalness"] = float(np.median(nats)) if nats else None
    trigger = (doc.get("triggers") or {}).get("outcome")  # model-level: every shard reversed every class alike
    passed = not any(failing_checks(c) for c in classes) and not doc.get("degenerate") and trigger != "suspected_trigger"
    doc["passed"] = bool(passed and not (doc.get("strict") and "inconclusive" in (doc.get("verdict"), trigger)))
    settings = dict(doc.get("settings") or {})
    settings["classes"] = [int(c) for c in shard["all_classes"]]
    doc["settings"] = settings
    gates = [d.get("gate") or {} for _, d, _ in ordered]
    notes = list(dict.fromkeys(n for g in gates for n in g.get("notes") or []))
    doc["gate"] = {"command": list(command), "wall_time_s": round(sum(float(g.get("wall_time_s") or 0) for g in gates), 3),
                   "notes": notes, "parts": [{"part": name, "shard": f"{d['shard']['index']}/{d['shard']['total']}",
                                              "command": (d.get("gate") or {}).get("command"),
                                              "wall_time_s": (d.get("gate") or {}).get("wall_time_s")}
                                             for name, d, _ in ordered]}
    if any("timings" in d for _, d, _ in ordered):
        from ..timings import Timings

        summed = Timings(started=0.0, clock=lambda: 0.0)
        for _, d, _ in ordered:
            summed.add(d.get("timings") or {})
        doc["timings"] = summed.as_dict(total=sum(float((d.get("timings") or {}).get("total") or 0)
                                                  for _, d, _ in ordered))
    doc["merged"] = {"shards": int(shard["total"]), "parts": [name for name, _, _ in ordered]}
    return jsonable(doc)


def merged_figures(parts: Sequence[tuple[str, dict[str, Any], Path]]) -> dict[int, Any]:
    """The HTML page's pictures of every class, from the parts (each shard must have been run with ``--html``)."""
    from .html import ClassFigures, Picture

    out: dict[int, Any] = {}
    for name, doc, _ in parts:
        figures = doc["shard"].get("figures")
        if figures is None:
            raise MergeError(f"merge --html: part {name!r} carries no pictures (its shard ran without --html); rerun "
                             "every shard with --html PATH, or merge without --html")
        for key, f in figures.items():
            out[int(key)] = ClassFigures(
                restarts=tuple(Picture(**p) for p in f.get("restarts") or []),
                control=None if f.get("control") is None else Picture(**f["control"]),
                references=tuple(Picture(**p) for p in f.get("references") or []),
                ranking=tuple((str(label), float(p)) for label, p in f.get("ranking") or []),
                notes=tuple(str(n) for n in f.get("notes") or []))
    return out


# --------------------------------------------------------------------------- artifacts
def _class_files(name: str, doc: Mapping[str, Any], folder: Path, stem: str) -> Path:
    """The artifacts folder of a part holding ``stem``'s PNG and ``.npz`` (see :func:`write_merged_artifacts`)."""
    recorded = doc["shard"].get("artifacts")
    candidates = [folder]
    if recorded:
        candidates += [Path(recorded), folder / recorded, folder / Path(recorded).name]
    for where in candidates:
        if (where / f"{stem}.png").is_file() and (where / f"{stem}.npz").is_file():
            return where
    raise MergeError(f"merge --artifacts: no {stem}.png and {stem}.npz for part {name!r} (looked in "
                     f"{', '.join(repr(str(c)) for c in dict.fromkeys(candidates))}); run its shard with --artifacts "
                     "DIR and pass that folder (or the part's JSON beside it) to merge, or merge without --artifacts")


def write_merged_artifacts(doc: dict[str, Any], parts: Sequence[tuple[str, dict[str, Any], Path]],
                           folder: str | Path) -> dict[str, Path]:
    """The artifacts folder a single run would have written, from the shards' folders.

    Each class's PNG and ``.npz`` are copied from the folder of the part that ran
    it: the part's own folder (a part given as an artifacts folder or its
    ``summary.json``), else the folder its shard's ``--artifacts`` named, as
    given or relative to the part's folder. ``grid.png`` is rebuilt from the
    class PNGs (the same pixels a single run draws), ``ideal_inputs.npz``
    concatenates the classes' arrays in class order, and ``summary.json`` is
    ``doc`` with each class's ``image`` pointing into ``folder``. Sets
    ``doc``'s image paths; files are written atomically under the folder's manifest.
    """
    from PIL import Image

    from .._atomic import atomic_write_bytes
    from . import reporting
    from .artifacts import MANIFEST, class_stem, grid_image, remove_previous, save_png, write_manifest

    folder = Path(folder)
    owner = {int(c["index"]): (name, d, f) for name, d, f in parts for c in d.get("classes", [])}
    stems = {int(c["index"]): class_stem(int(c["index"]), c["label"]) for c in doc["classes"]}
    sources = {index: _class_files(*owner[index], stem) for index, stem in stems.items()}
    names = [f"{stem}.{ext}" for stem in stems.values() for ext in ("png", "npz")]
    names += (["grid.png"] if stems else []) + ["ideal_inputs.npz", "summary.json"]
    remove_previous(folder)
    write_manifest(folder, names)
    written: dict[str, Path] = {}
    tiles, arrays = [], []
    for c in doc["classes"]:
        index, stem = int(c["index"]), stems[int(c["index"])]
        for ext in ("png", "npz"):
            data = (sources[index] / f"{stem}.{ext}").read_bytes()
            written[f"class_{index}" + ("" if ext == "png" else "_arrays")] = atomic_write_bytes(folder / f"{stem}.{ext}", data)
        c["image"] = str(folder / f"{stem}.png")
        with Image.open(sources[index] / f"{stem}.png") as im:
            tile = np.asarray(im)
        tiles.append(tile[..., None] if tile.ndim == 2 else tile)
        with np.load(sources[index] / f"{stem}.npz") as npz:
            arrays.append({k: npz[k] for k in npz.files})
    if tiles:
        captions = [reporting.grid_caption(c) for c in doc["classes"]]
        colors = ["green" if caption[-1] == "PASS" else "red" for caption in captions]
        written["grid"] = save_png(folder / "grid.png", grid_image(np.stack(tiles), captions, colors=colors))
    written["arrays"] = _write_arrays(folder / "ideal_inputs.npz", arrays, doc)
    written["summary"] = reporting.write_json(doc, folder / "summary.json")
    written["manifest"] = folder / MANIFEST
    return written


def _write_arrays(path: Path, arrays: list[dict[str, np.ndarray]], doc: Mapping[str, Any]) -> Path:
    """The classes' arrays concatenated in class order; ``summary`` from the first class's, for every class."""
    keys = [k for k in (arrays[0] if arrays else {}) if k != "summary"]
    summary: dict[str, Any] = {}
    if arrays and "summary" in arrays[0]:
        summary = json.loads(str(arrays[0]["summary"]))
        summary.setdefault("settings", {})["classes"] = (doc.get("settings") or {}).get("classes")
        summary.pop("wall_time_s", None)

    def write(f: Any) -> None:
        buf = io.BytesIO()
        merged: dict[str, Any] = {k: np.concatenate([a[k] for a in arrays]) for k in keys}
        merged["summary"] = np.array(json.dumps(summary, default=str))
        np.savez_compressed(buf, **merged)
        f.write(buf.getvalue())

    return atomic_write_with(path, write)
