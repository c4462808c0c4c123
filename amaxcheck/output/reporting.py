"""The gate's outputs: the JSON document, JUnit XML, Markdown, and the terminal table.

Everything here works on the gate *document* (a plain dict: ``Report.to_dict()``
plus ``model``, ``versions`` and the gate's settings), so the four formats
always agree and can be produced without TensorFlow. Files are written
atomically.

JSON contract (keys are only ever added): ``schema_version``, ``passed``,
``verdict`` (``"healthy"``, ``"degenerate"``, ``"inconclusive"`` or null),
``degenerate``, ``degeneracy``, ``naturalness``, ``reasons``, ``signals``
[{``name``, ``value``, ``null``, ``says``, ``reason``, ``details``}],
``strict``, ``thresholds``, ``controls``,
``model`` {``path``, ``sha256``, ``input_shape``, ``n_classes``, ...},
``settings`` {..., ``seed``}, ``versions`` {``amaxcheck``, ``tensorflow``,
``keras``, ``numpy``, ``skimage``}, ``classes`` [{``index``, ``label``,
``confidence``, ``margin``, ``top_k`` [{``index``, ``label``, ``p``}],
``in_top_k``, ``degeneracy``, ``degenerate``, ``reasons``, ``signals``,
``naturalness``, ``stats``, ``checks`` [{``name``, ``status``, ``value``, ``threshold``,
``message``}], ``image``}], ``gate`` {``command``, ``wall_time_s``, ``notes``},
``timings`` {``load``, ``trace``, ``synthesis``, ``controls``, ``checks``,
``outputs``, ``total``}; a shard's partial report adds ``shard`` and a merged
one ``merged`` (see :mod:`amaxcheck.output.merge`).
"""
from __future__ import annotations

import datetime as _dt
import html
import importlib.metadata
import json
import os
import socket
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from ..verdict.report import jsonable
from .text import aligned, markdown_text, slug, terminal_text, xml_text

_VERSION_SOURCES = {  # key -> (module name, distribution name)
    "amaxcheck": ("amaxcheck", "amaxcheck"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "keras": ("keras", "keras"),
    "numpy": ("numpy", "numpy"),
    "skimage": ("skimage", "scikit-image"),
}


# --------------------------------------------------------------------------- document
def versions() -> dict[str, str | None]:
    """Versions of amaxcheck and the libraries that shape its numbers (``None`` when not installed)."""
    out: dict[str, str | None] = {}
    for key, (module_name, dist) in _VERSION_SOURCES.items():
        module = sys.modules.get(module_name)
        version = getattr(module, "__version__", None) if module is not None else None
        if version is None:
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                version = None
        out[key] = str(version) if version is not None else None
    return out


def gate_extras(*, model: Mapping[str, Any], settings: Mapping[str, Any], gate: Mapping[str, Any]) -> dict[str, Any]:
    """The keys the gate adds to ``Report.to_dict()`` (also what ``write_artifacts`` puts in summary.json)."""
    return jsonable({"model": dict(model), "settings": dict(settings), "versions": versions(), "gate": dict(gate)})


def build_document(report: Any, extras: Mapping[str, Any], *, strict: bool = False) -> dict[str, Any]:
    """The full gate document: ``report.to_dict()`` with ``extras`` (from :func:`gate_extras`) merged in.

    ``strict``: an inconclusive verdict fails (``passed`` false, ``strict`` true in the document).
    """
    doc = report.to_dict()
    doc.update(extras)
    doc["strict"] = bool(strict)
    if strict and (doc.get("verdict") == "inconclusive" or _trigger_outcome(doc) == "inconclusive"):
        doc["passed"] = False
    return jsonable(doc)


def _trigger_outcome(doc: Mapping[str, Any]) -> str | None:
    return (doc.get("triggers") or {}).get("outcome")


def trigger_lines(doc: Mapping[str, Any]) -> list[str]:
    """What the trigger check found, in lines for the terminal and Markdown (none when it did not run)."""
    trig = doc.get("triggers")
    if not trig:
        return []
    outcome = trig.get("outcome")
    head = {"suspected_trigger": "SUSPECTED TRIGGER", "no_trigger_found": "no trigger found",
            "inconclusive": "inconclusive"}.get(str(outcome), str(outcome))
    flagged = [c for c in trig.get("classes", []) if c.get("flagged")]
    if flagged:
        head += " (" + ", ".join(f"class {c['class']}" + ("" if str(c["label"]) == str(c["class"]) else
                                                         f" ({c['label']})") for c in flagged) + ")"
    return [f"triggers: {head}: {r}" for r in trig.get("reasons", [])] + \
        [f"triggers: note: {n}" for n in trig.get("notes", [])]


def trigger_rows(doc: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Header plus one row per class of the trigger check: mask size, held-out success, anomaly index, location."""
    rows: list[tuple[str, ...]] = [("class", "label", "mask", "held-out success", "anomaly index", "where",
                                     "flagged")]
    for c in (doc.get("triggers") or {}).get("classes", []):
        rows.append((str(c["class"]), str(c["label"]), f"{100 * (c.get('mask_fraction') or 0):.1f} %",
                     f"{100 * (c.get('success') or 0):.0f} % of {c.get('held_out')}", _fmt(c.get("anomaly_index"), 2),
                     str(c.get("location")), "FLAGGED" if c.get("flagged") else "-"))
    return rows


def to_json(doc: Mapping[str, Any]) -> str:
    """Strict JSON text (no NaN), indented, with a trailing newline."""
    return json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n"


def write_json(doc: Mapping[str, Any], path: str | os.PathLike) -> Path:
    return atomic_write_text(path, to_json(doc))


# --------------------------------------------------------------------------- small formatters
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v, digits) for v in value) + "]"
    return str(value)


def class_verdict(cls: Mapping[str, Any]) -> str:
    """``DEGENERATE``, ``FAIL`` or ``PASS`` for one class entry of the document.

    The one place that decides a class's word: the terminal table, Markdown and
    the artifact grid's captions all use it.
    """
    if cls.get("degenerate"):
        return "DEGENERATE"
    return "FAIL" if failing_checks(cls) else "PASS"


def grid_caption(cls: Mapping[str, Any]) -> list[str]:
    """The three lines under a class's tile in the artifact grid: label, confidence and degeneracy, verdict."""
    return [terminal_text(cls["label"]), f"p={_fmt(cls.get('confidence'), 2)} d={_fmt(cls.get('degeneracy'), 2)}",
            class_verdict(cls)]


def failing_checks(cls: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in cls.get("checks", []) if c.get("status") == "fail"]


def _top_k_text(cls: Mapping[str, Any]) -> str:
    ranked = ", ".join(f"{t['label']} {_fmt(t.get('p'), 2)}" for t in cls.get("top_k", []))
    return f"{'yes' if cls.get('in_top_k') else 'NO'} ({ranked})"


def verdict_line(doc: Mapping[str, Any]) -> str:
    """One line: PASSED/FAILED, failing classes, the model's verdict and naturalness."""
    classes = doc.get("classes", [])
    failing = [c for c in classes if failing_checks(c)]
    verdict = doc.get("verdict")
    text = "verdict not computed" if verdict is None else f"model verdict {str(verdict).upper()}"
    if verdict == "inconclusive":
        text += " (fails with --strict)" if not doc.get("strict") else " (--strict: fails)"
    if doc.get("naturalness") is not None:
        text += f", naturalness {_fmt(doc.get('naturalness'), 2)}"
    outcome = _trigger_outcome(doc)
    if outcome is not None:
        text += {"suspected_trigger": ", BACKDOOR TRIGGER SUSPECTED", "no_trigger_found": ", no trigger found",
                 "inconclusive": ", trigger check inconclusive"}.get(outcome, f", triggers {outcome}")
    head = "PASSED" if doc.get("passed") else "FAILED"
    return f"amaxcheck gate {head}: {len(failing)} of {len(classes)} classes failing; {text}"


def table_rows(doc: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Header plus one row per class: class, label, confidence, top-k, degeneracy, verdict, failing checks."""
    k = (doc.get("thresholds") or {}).get("top_k", 1)
    rows: list[tuple[str, ...]] = [("class", "label", "confidence", f"in top-{k}", "degeneracy", "verdict",
                                     "failing checks")]
    for c in doc.get("classes", []):
        rows.append((str(c["index"]), str(c["label"]), _fmt(c.get("confidence")), _top_k_text(c),
                     _fmt(c.get("degeneracy"), 2), class_verdict(c), ", ".join(failing_checks(c)) or "-"))
    return rows


# --------------------------------------------------------------------------- terminal
def terminal_table(doc: Mapping[str, Any]) -> str:
    """The per-class table the CLI prints, then reasons, notes and the verdict line.

    Labels and messages are shown with control characters escaped (:func:`~amaxcheck.output.text.terminal_text`):
    no raw ESC, CR or LF from a label reaches the terminal.
    """
    lines = aligned([tuple(terminal_text(cell) for cell in row) for row in table_rows(doc)])
    extra: list[str] = []
    for c in doc.get("classes", []):
        for check in c.get("checks", []):
            if check.get("status") == "fail":
                extra.append(f"  class {c['index']} ({c['label']}) {check['name']}: {check.get('message', '')}")
    for reason in doc.get("reasons", []):
        extra.append(f"model: {reason}")
    extra += trigger_lines(doc)
    for note in list((doc.get("controls") or {}).get("notes", [])) + list((doc.get("gate") or {}).get("notes", [])):
        extra.append(f"note: {note}")
    lines += [terminal_text(line) for line in extra]
    lines.append(verdict_line(doc))
    return "\n".join(lines)


# --------------------------------------------------------------------------- markdown
def _md_cell(text: Any) -> str:
    """Text for a Markdown table cell or line: controls escaped (no CR/LF splits a row), HTML and ``|`` escaped."""
    return html.escape(markdown_text(str(text).replace("\n", " ")), quote=False).replace("|", "\\|")


def _md_table(rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows[1:]]
    return out


def markdown(doc: Mapping[str, Any]) -> str:
    """GitHub-flavoured Markdown: verdict line, per-class table, details per class and for the run."""
    model = doc.get("model") or {}
    icon = "✅" if doc.get("passed") else "❌"
    lines = [f"## {icon} {_md_cell(verdict_line(doc))}", "",
             (f"Model `{_md_cell(model.get('path', '?'))}` (sha256 `{str(model.get('sha256') or '-')[:12]}`), "
             f"input {model.get('input_shape')}, {model.get('n_classes')} classes."), ""]
    lines += _md_table(table_rows(doc))
    lines.append("")
    for reason in doc.get("reasons", []):
        lines.append(f"- model: {_md_cell(reason)}")
    if doc.get("reasons"):
        lines.append("")
    if doc.get("triggers"):
        lines += ["### Backdoor triggers (Neural Cleanse)", ""] + [f"- {_md_cell(t)}" for t in trigger_lines(doc)]
        lines += [""] + _md_table(trigger_rows(doc)) + [""]
    for c in doc.get("classes", []):
        fails = failing_checks(c)
        summary = f"class {c['index']} ({c['label']}): {class_verdict(c)}" + (f" ({', '.join(fails)})" if fails else "")
        lines += ["<details>", f"<summary>{_md_cell(summary)}</summary>", ""]
        lines += _md_table([("check", "status", "value", "threshold", "message")] + [
            (k["name"], k["status"], _prop_value(k.get("value")) or "-", _prop_value(k.get("threshold")) or "-",
             k.get("message", ""))
            for k in c.get("checks", [])])
        if c.get("reasons"):
            lines += [""] + [f"- {_md_cell(r)}" for r in c["reasons"]]
        if c.get("signals"):
            lines += ["", "Signals (reach: 0 certain, 1 untrained floor; naturalness parts: 1 natural): " + ", ".join(
                f"{_md_cell(k)} {_fmt(v, 2)}" for k, v in c["signals"].items())]
        if c.get("image"):
            lines += ["", f"Image: `{_md_cell(c['image'])}`"]
        lines += ["", "</details>", ""]
    settings = doc.get("settings") or {}
    shown = {k: settings.get(k) for k in ("classes", "restarts", "steps", "seed", "input_range", "reference", "labels")
             if k in settings}
    lines += ["<details>", "<summary>settings, controls and versions</summary>", "",
              "```json", json.dumps(jsonable({"settings": shown, "thresholds": doc.get("thresholds"),
                                              "controls": {k: v for k, v in (doc.get("controls") or {}).items()
                                                           if k != "weights"},
                                              "versions": doc.get("versions")}), indent=2), "```", "", "</details>", ""]
    return "\n".join(lines)


def write_markdown(doc: Mapping[str, Any], path: str | os.PathLike) -> Path:
    return atomic_write_text(path, markdown(doc))


def append_step_summary(text: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append ``text`` to ``$GITHUB_STEP_SUMMARY`` when set (atomically: the file is rewritten whole)."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    try:
        before = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise OSError(f"cannot read $GITHUB_STEP_SUMMARY file {target!r}: {exc.strerror or exc}") from exc
    sep = "" if not before or before.endswith("\n\n") else ("\n" if before.endswith("\n") else "\n\n")
    return atomic_write_text(path, before + sep + text)


# --------------------------------------------------------------------------- JUnit XML
def _prop_value(value: Any) -> str:
    """A property value as text: true/false, numbers to 6 significant digits, lists as JSON, None as ''."""
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _props(parent: ET.Element, values: Mapping[str, Any]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if isinstance(value, Mapping):
            for sub, v in value.items():
                ET.SubElement(props, "property", name=f"{name}.{sub}", value=_prop_value(v))
        else:
            ET.SubElement(props, "property", name=name, value=_prop_value(value))


def junit_xml(doc: Mapping[str, Any]) -> str:
    """JUnit XML: one ``<testcase>`` per class x check; failures carry the message, metrics are ``<properties>``.

    Layout follows the Jenkins/GitLab reading of the format: ``testsuites`` >
    ``testsuite`` (run-level properties) > ``testcase`` (per-class metrics as
    properties, ``failure``/``skipped``, and ``system-out`` naming the image as a
    GitLab ``[[ATTACHMENT|...]]``).
    """
    model = doc.get("model") or {}
    model_slug = slug(Path(str(model.get("path", "model"))).stem or "model")
    cases = [(c, k) for c in doc.get("classes", []) for k in c.get("checks", [])]
    verdict_case = _verdict_check(doc)
    if verdict_case is not None:
        cases.append(({"index": -1, "label": "model", "reasons": doc.get("reasons", [])}, verdict_case))
    trigger_case = _trigger_check(doc)
    if trigger_case is not None:
        cases.append(({"index": -1, "label": "model", "reasons": doc["triggers"].get("reasons", [])}, trigger_case))
    failures = sum(1 for _, k in cases if k.get("status") == "fail")
    skipped = sum(1 for _, k in cases if k.get("status") == "skip")
    wall = (doc.get("gate") or {}).get("wall_time_s") or 0.0
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
              "time": f"{float(wall):.3f}"}
    root = ET.Element("testsuites", {"name": "amaxcheck gate", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"amaxcheck.gate.{model_slug}", **counts,
                                              "timestamp": _dt.datetime.now().isoformat(timespec="seconds"),
                                              "hostname": socket.gethostname()})
    settings = doc.get("settings") or {}
    _props(suite, {
        "passed": doc.get("passed"), "verdict": doc.get("verdict"), "degenerate": doc.get("degenerate"),
        "degeneracy": doc.get("degeneracy"), "naturalness": doc.get("naturalness"),
        "model": {k: model.get(k) for k in ("path", "sha256", "input_shape", "n_classes")},
        "settings": {k: settings.get(k) for k in ("seed", "steps", "restarts", "input_range") if k in settings},
        "thresholds": doc.get("thresholds") or {}, "versions": doc.get("versions") or {},
    })
    for c, k in cases:
        where = "model" if c["index"] == -1 else f"class_{int(c['index']):03d}_{slug(c['label'])}"
        case = ET.SubElement(suite, "testcase", classname=f"amaxcheck.{model_slug}.{where}", name=str(k["name"]), time="0")
        if c["index"] == -1 and k["name"] == "triggers":
            _props(case, {"value": k.get("value"), **{
                f"class_{int(t['class']):03d}": {key: t.get(key) for key in (
                    "label", "mask_fraction", "success", "anomaly_index", "flagged", "location", "image")}
                for t in doc["triggers"].get("classes", [])}})
        elif c["index"] == -1:
            _props(case, {"value": k.get("value"), "naturalness": doc.get("naturalness"),
                          "signal": {s.get("name"): s.get("says") for s in doc.get("signals", [])}})
        else:
            _props(case, {"class_index": c["index"], "label": c["label"], "value": k.get("value"),
                          "threshold": k.get("threshold"), "confidence": c.get("confidence"), "margin": c.get("margin"),
                          "in_top_k": c.get("in_top_k"), "degeneracy": c.get("degeneracy"),
                          "degenerate": c.get("degenerate"), "signal": c.get("signals") or {},
                          "stat": c.get("stats") or {}, "image": c.get("image")})
        message = str(k.get("message", ""))
        if k.get("status") == "fail":
            subject = "model" if c["index"] == -1 else f"class {c['index']} ({c['label']})"
            body = "\n".join([f"{subject}, check {k['name']}: {message}",
                              f"value {_prop_value(k.get('value'))}, threshold {_prop_value(k.get('threshold'))}",
                              *[f"reason: {r}" for r in c.get("reasons", [])]])
            ET.SubElement(case, "failure", message=message, type=f"amaxcheck.{k['name']}").text = body
        elif k.get("status") == "skip":
            ET.SubElement(case, "skipped", message=message)
        if c.get("image"):
            ET.SubElement(case, "system-out").text = f"[[ATTACHMENT|{os.path.abspath(str(c['image']))}]]"
    for element in root.iter():  # labels and messages may hold characters XML 1.0 forbids
        element.text = None if element.text is None else xml_text(element.text)
        for name, value in element.attrib.items():
            element.attrib[name] = xml_text(value)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _verdict_check(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The model-level verdict as one more check (a JUnit testcase): fails when degenerate, or inconclusive and strict."""
    verdict = doc.get("verdict")
    if verdict is None:
        return None
    failed = verdict == "degenerate" or (verdict == "inconclusive" and bool(doc.get("strict")))
    reasons = "; ".join(doc.get("reasons", []))
    return {"name": "verdict", "status": "fail" if failed else "pass", "value": verdict,
            "threshold": "strict" if doc.get("strict") else None, "message": f"model verdict {verdict}: {reasons}"}


def _trigger_check(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The trigger check as a model-level testcase: fails when a trigger is suspected, or inconclusive and strict."""
    outcome = _trigger_outcome(doc)
    if outcome is None:
        return None
    failed = outcome == "suspected_trigger" or (outcome == "inconclusive" and bool(doc.get("strict")))
    return {"name": "triggers", "status": "fail" if failed else "pass", "value": outcome,
            "threshold": doc["triggers"].get("thresholds"),
            "message": f"trigger check {outcome}: {'; '.join(doc['triggers'].get('reasons', []))}"}


def write_junit(doc: Mapping[str, Any], path: str | os.PathLike) -> Path:
    return atomic_write_text(path, junit_xml(doc))
