"""The HTML report: one self-contained page (images inline, CSS inline, no script, no URL) from the gate document.

Pure string functions over the gate *document* (:func:`~amaxcheck.output.reporting.build_document`)
and the pictures of each class (:class:`ClassFigures`, made by :mod:`amaxcheck.output.figures`):

* :func:`report_article` -- one checked model: the verdict and its reasons on
  top, the model-level signals as bars against their nulls, then one section
  per class (every restart's ideal input, the learned-nothing control's, real
  reference examples, confidence and runner-ups, the checks);
* :func:`report_html` -- the gate's page (``--html``): one article;
* :func:`session_html` -- the pytest plugin's page (``--amax-html``): the
  articles of every test that checked a model;
* :func:`write_html` -- the page to a file, atomically.

Every label, reason and message goes through :func:`~amaxcheck.output.text.xml_text`
(the JUnit sanitizer: controls, lone surrogates, U+FFFE/U+FFFF and
bidirectional overrides escaped) and then :func:`html.escape` (quotes too).
Images are ``data:image/png;base64`` URIs, checked when a :class:`Picture` is
made; a Content-Security-Policy forbids anything else. Same inputs, same
bytes: nothing depends on the time, the host or the output path.
"""
from __future__ import annotations

import hashlib
import html
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import atomic_write_text
from ..errors import DataError
from .reporting import _fmt, _prop_value, class_verdict, failing_checks
from .text import xml_text

#: how every image reaches the page: inline PNG, nothing fetched
DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/]+={0,2}")
#: the mark the output guard recognizes (in the first 64 KiB) before it replaces an existing report
GENERATOR = f"amaxcheck {__version__}"
#: displayed width of an image tile, CSS pixels (small images are upscaled without smoothing)
TILE_PX = 96
#: the page may load nothing but its own inline images and styles
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
#: what each model-level signal's null is, on the bar
_NULLS = {"weights": "untrained", "reach": "untrained max", "held_out_accuracy": "chance"}
_TITLES = {"weights": "weights moved", "reach": "reach (median p)", "held_out_accuracy": "held-out accuracy"}
_SAYS = {"learned": ("learned", "good"), "nothing": ("learned nothing", "bad")}
_VERDICT_TONES = {"healthy": "good", "degenerate": "bad", "inconclusive": "warn"}
_DOT = " \u00b7 "
_SETTINGS_SHOWN = ("classes", "restarts", "steps", "seed", "input_range", "objective", "parameterization",
                   "transforms", "learning_rate", "labels", "reference", "reference_size")


# --------------------------------------------------------------------------- the pictures
@dataclass(frozen=True)
class Picture:
    """One inline image: an ``uri`` (``data:image/png;base64,...``), its pixel size, a caption and a tooltip."""

    uri: str
    width: int
    height: int
    caption: str
    title: str = ""
    best: bool = False

    def __post_init__(self) -> None:
        if not DATA_URI.fullmatch(self.uri):
            raise DataError(f"a report picture must be an inline data:image/png;base64 URI, got {self.uri[:40]!r}; "
                            "make it with amaxcheck.output.figures.picture()")


@dataclass(frozen=True)
class ClassFigures:
    """What the page shows of one class beyond the document: its pictures and its best restart's ranking.

    ``restarts``: the ideal input of every restart (the best one has ``best``);
    ``control``: the learned-nothing control's ideal input; ``references``: real
    examples of the class; ``ranking``: ``(label, p)`` of the best restart's top
    classes, highest first; ``notes``: what is missing and why, or which control
    class is shown.
    """

    restarts: tuple[Picture, ...] = ()
    control: Picture | None = None
    references: tuple[Picture, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = ()
    trigger: tuple[Picture, ...] = ()  # the reversed trigger's mask and stamp, when the trigger check ran


@dataclass(frozen=True)
class CheckedTest:
    """One test of a pytest session and the articles (:func:`report_article`) of the models it checked."""

    nodeid: str
    outcome: str
    articles: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (how an xdist worker sends it to the controller)."""
        return {"nodeid": self.nodeid, "outcome": self.outcome, "articles": list(self.articles)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckedTest:
        return cls(str(data["nodeid"]), str(data["outcome"]), tuple(str(a) for a in data["articles"]))


# --------------------------------------------------------------------------- small pieces
def _t(value: Any) -> str:
    """Text for the page: what XML forbids escaped (as in the JUnit report), then HTML-escaped, quotes included."""
    return html.escape(xml_text(value), quote=True)


def anchor_for(nodeid: str) -> str:
    """The ``id`` of a test's section: stable across runs and workers, unique per node id."""
    return "t-" + hashlib.sha1(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else ``None`` (booleans, text, NaN and infinities are not drawn)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _pct(value: float) -> str:
    return f"{100.0 * min(1.0, max(0.0, value)):.1f}%"


def _bar(value: Any, marks: Sequence[tuple[Any, str]] = (), tone: str = "neutral", label: str = "") -> str:
    """A 0..1 bar filled to ``value`` (empty without one) with a tick at each mark ``(position, name)``."""
    number = _number(value)
    fill = "" if number is None else f'<span class="fill {tone}" style="width:{_pct(number)}"></span>'
    ticks = "".join(f'<span class="mark" style="left:{_pct(pos)}" title="{_t(name)} {_fmt(pos, 2)}"></span>'
                    for pos, name in ((_number(p), n) for p, n in marks) if pos is not None)
    aria = "" if number is None else f' aria-valuenow="{number:.4f}"'
    return (f'<span class="bar" role="meter" aria-valuemin="0" aria-valuemax="1"{aria} aria-label="{_t(label)}">'
            f"{fill}{ticks}</span>")


def _pill(text: str, tone: str, cls: str = "pill") -> str:
    return f'<span class="{cls} {tone}">{_t(text)}</span>'


def _check(cls: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((c for c in cls.get("checks", []) if c.get("name") == name), None)


def _tone_of(status: Any) -> str:
    return {"pass": "good", "fail": "bad"}.get(str(status), "neutral")


def _figure(p: Picture, kind: str) -> str:
    height = max(1, round(TILE_PX * p.height / max(1, p.width)))
    best = " best" if p.best else ""
    return (f'<figure class="tile {kind}{best}"><img src="{p.uri}" width="{TILE_PX}" height="{height}" '
            f'alt="{_t(p.caption)}" title="{_t(p.title or p.caption)}"><figcaption>{_t(p.caption)}</figcaption>'
            "</figure>")


# --------------------------------------------------------------------------- the model
def _model_name(doc: Mapping[str, Any]) -> str:
    model = doc.get("model") or {}
    return str(model.get("name") or Path(str(model.get("path") or "model")).stem)


def _verdict_badge(doc: Mapping[str, Any]) -> str:
    verdict = doc.get("verdict")
    word = "verdict not computed" if verdict is None else str(verdict).upper()
    return (f'<span class="badge verdict {_VERDICT_TONES.get(str(verdict), "neutral")}" '
            f'data-verdict="{_t(verdict or "none")}">{_t(word)}</span>')


def _summary_line(doc: Mapping[str, Any]) -> str:
    classes = doc.get("classes", [])
    failing = sum(1 for c in classes if failing_checks(c))
    model = doc.get("model") or {}
    parts = [f"{len(classes) - failing} of {len(classes)} classes pass"]
    if doc.get("naturalness") is not None:
        parts.append(f"naturalness {_fmt(doc.get('naturalness'), 2)}")
    if model.get("input_shape"):
        parts.append("input " + "\u00d7".join(str(v) for v in model["input_shape"]))
    if model.get("n_classes"):
        parts.append(f"{model['n_classes']} classes")
    if doc.get("verdict") == "inconclusive":
        parts.append("--strict: fails" if doc.get("strict") else "fails only with --strict")
    return _DOT.join(_t(p) for p in parts)


def _header(doc: Mapping[str, Any]) -> str:
    model = doc.get("model") or {}
    where = [str(model["path"])] if model.get("path") else []
    if model.get("sha256"):
        where.append(f"sha256 {str(model['sha256'])[:12]}")
    elif model.get("fingerprint"):
        where.append(f"weights {str(model['fingerprint'])[:12]}")
    passed = bool(doc.get("passed"))
    reasons = "".join(f"<li>{_t(r)}</li>" for r in doc.get("reasons", []))
    notes = "".join(f"<li>{_t(n)}</li>" for n in
                    list((doc.get("controls") or {}).get("notes", [])) + list((doc.get("gate") or {}).get("notes", [])))
    return "".join([
        '<header class="verdict-head">',
        f'<h2 class="model">{_t(_model_name(doc))}</h2>',
        f'<p class="where">{_DOT.join(_t(w) for w in where)}</p>' if where else "",
        f'<p class="badges">{_verdict_badge(doc)} ',
        _pill("PASSED" if passed else "FAILED", "good" if passed else "bad", "badge gate"),
        f'<span class="summary">{_summary_line(doc)}</span></p>',
        f'<ul class="reasons">{reasons}</ul>' if reasons else "",
        f'<ul class="notes">{notes}</ul>' if notes else "",
        "</header>",
    ])


def _signal(sig: Mapping[str, Any]) -> str:
    name = str(sig.get("name"))
    marks: list[tuple[Any, str]] = [(sig.get("null"), _NULLS.get(name, "null"))]
    usable = (sig.get("details") or {}).get("usable")
    if name == "held_out_accuracy" and usable is not None:
        marks.append((usable, "usable"))
    says, tone = _SAYS.get(str(sig.get("says")), ("cannot tell", "warn"))
    null = ", ".join(f"{n} {_fmt(v, 2)}" for v, n in marks if _number(v) is not None)
    return "".join([
        f'<div class="signal" data-signal="{_t(name)}" data-says="{_t(sig.get("says") or "none")}">',
        f'<span class="name">{_t(_TITLES.get(name, name))}</span>',
        _bar(sig.get("value"), marks, tone, name),
        f'<span class="value">{_t(_fmt(sig.get("value"), 2))}</span>',
        f'<span class="null">{_t(null)}</span>',
        _pill(says, tone),
        f'<p class="why">{_t(sig.get("reason", ""))}</p>',
        "</div>",
    ])


def _signals(doc: Mapping[str, Any]) -> str:
    signals = doc.get("signals") or []
    if not signals:
        return ""
    return ('<section class="signals"><h3>Signals behind the verdict</h3>'
            '<p class="hint">bar: the value (0 to 1); tick: what a model that learned nothing gets</p>'
            + "".join(_signal(s) for s in signals) + "</section>")


def _overview(doc: Mapping[str, Any], figures: Mapping[int, ClassFigures], anchor: str) -> str:
    links = []
    for c in doc.get("classes", []):
        word = class_verdict(c)
        best = next((p for p in figures.get(int(c["index"]), ClassFigures()).restarts if p.best), None)
        img = "" if best is None else (f'<img src="{best.uri}" width="48" height="'
                                       f'{max(1, round(48 * best.height / max(1, best.width)))}" alt="">')
        links.append(f'<a class="chip {"good" if word == "PASS" else "bad"}" href="#{anchor}-c{int(c["index"])}">'
                     f'{img}<span>{_t(c["label"])}</span></a>')
    return f'<nav class="overview" aria-label="classes">{"".join(links)}</nav>' if links else ""


# --------------------------------------------------------------------------- one class
def _metrics(doc: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    thr = doc.get("thresholds") or {}
    rows = []
    for name, key, mark in (("confidence", "min_confidence", "min"), ("degeneracy", "max_degeneracy", "max"),
                            ("naturalness", "min_naturalness", "min")):
        check = _check(c, name)
        threshold = thr.get(key)
        marks = [(threshold, mark)] if _number(threshold) else []  # none at 0: naturalness is not enforced then
        tone = _tone_of(check.get("status")) if check is not None else "neutral"
        rows.append(f'<div class="metric" data-metric="{name}"><span class="name">{name}</span>'
                    f'{_bar(c.get(name), marks, tone, name)}<span class="value">{_t(_fmt(c.get(name), 3))}</span>'
                    f'<span class="null">{_t(f"{mark} {_fmt(threshold, 2)}") if marks else ""}</span></div>')
    parts = [(k, v) for k, v in (c.get("signals") or {}).items() if k != "reach"]
    if parts:
        rows.append('<div class="parts" title="naturalness parts: 1 is natural">' + "".join(
            f'<span class="part"><span class="name">{_t(k)}</span>{_bar(v, (), "neutral", k)}'
            f'<span class="value">{_t(_fmt(v, 2))}</span></span>' for k, v in parts) + "</div>")
    return '<div class="metrics">' + "".join(rows) + "</div>"


def _ranking(c: Mapping[str, Any], fig: ClassFigures) -> str:
    ranked = list(fig.ranking) or [(str(t["label"]), t.get("p")) for t in c.get("top_k", [])]
    if not ranked:
        return ""
    items = "".join(
        f'<li class="{"target" if label == str(c["label"]) else "other"}"><span class="name">{_t(label)}</span>'
        f'{_bar(p, (), "good" if label == str(c["label"]) else "neutral", label)}'
        f'<span class="value">{_t(_fmt(p, 3))}</span></li>' for label, p in ranked)
    return f'<div class="ranking"><h4>Best restart ranks</h4><ol>{items}</ol></div>'


def _gallery(fig: ClassFigures) -> str:
    groups = []
    if fig.restarts:
        groups.append(f'<div class="group restarts"><h4>Ideal input, {len(fig.restarts)} restart'
                      f'{"s" if len(fig.restarts) != 1 else ""}</h4><div class="tiles">'
                      + "".join(_figure(p, "restart") for p in fig.restarts) + "</div></div>")
    if fig.control is not None:
        groups.append('<div class="group control"><h4>Learned-nothing control</h4><div class="tiles">'
                      + _figure(fig.control, "control") + "</div></div>")
    if fig.references:
        groups.append('<div class="group reference"><h4>Real examples</h4><div class="tiles">'
                      + "".join(_figure(p, "reference") for p in fig.references) + "</div></div>")
    notes = "".join(f"<li>{_t(n)}</li>" for n in fig.notes)
    return (f'<div class="pictures"><div class="gallery">{"".join(groups)}</div>'
            + (f'<ul class="notes">{notes}</ul>' if notes else "") + "</div>")


def _checks_table(c: Mapping[str, Any]) -> str:
    rows = "".join(
        f'<tr class="{_tone_of(k.get("status"))}"><td>{_t(k.get("name"))}</td>'
        f'<td>{_pill(str(k.get("status")), _tone_of(k.get("status")))}</td>'
        f'<td class="num">{_t(_prop_value(k.get("value")) or "-")}</td>'
        f'<td class="num">{_t(_prop_value(k.get("threshold")) or "-")}</td><td>{_t(k.get("message", ""))}</td></tr>'
        for k in c.get("checks", []))
    return ('<table class="checks"><thead><tr><th>check</th><th>status</th><th>value</th><th>threshold</th>'
            f"<th>message</th></tr></thead><tbody>{rows}</tbody></table>") if rows else ""


def _class_section(doc: Mapping[str, Any], c: Mapping[str, Any], fig: ClassFigures, anchor: str) -> str:
    word = class_verdict(c)
    tone = "good" if word == "PASS" else "bad"
    reasons = "".join(f"<li>{_t(r)}</li>" for r in c.get("reasons", []))
    return "".join([
        f'<section class="class {tone}" id="{anchor}-c{int(c["index"])}" data-class-index="{int(c["index"])}">',
        f'<h3><span class="label">{_t(c["label"])}</span> <span class="index">class {int(c["index"])}</span> ',
        _pill(word, tone, "pill verdict"),
        f' <span class="confidence">p = {_t(_fmt(c.get("confidence"), 3))}</span></h3>',
        '<div class="class-body">',
        _gallery(fig),
        '<div class="numbers">', _metrics(doc, c), _ranking(c, fig), "</div>",
        "</div>",
        f'<ul class="reasons">{reasons}</ul>' if reasons else "",
        f"<details><summary>checks ({len(c.get('checks', []))})</summary>{_checks_table(c)}</details>",
        "</section>",
    ])


# --------------------------------------------------------------------------- the run's settings
def _facts(title: str, values: Mapping[str, Any]) -> str:
    rows = "".join(f"<dt>{_t(k)}</dt><dd>{_t(_prop_value(v) or '-')}</dd>" for k, v in values.items())
    return f'<div class="facts"><h4>{_t(title)}</h4><dl>{rows}</dl></div>' if rows else ""


def _settings(doc: Mapping[str, Any]) -> str:
    settings = doc.get("settings") or {}
    controls = {k: v for k, v in (doc.get("controls") or {}).items() if k not in ("notes", "weights")}
    model = {k: v for k, v in (doc.get("model") or {}).items() if k not in ("name",)}
    blocks = [_facts("settings", {k: settings[k] for k in _SETTINGS_SHOWN if k in settings}),
              _facts("thresholds", dict(doc.get("thresholds") or {})),
              _facts("learned-nothing control", controls), _facts("model", model),
              _facts("versions", dict(doc.get("versions") or {}))]
    return '<footer class="settings">' + "".join(blocks) + "</footer>"


_TRIGGER_TONES = {"suspected_trigger": ("backdoor trigger suspected", "bad"),
                  "no_trigger_found": ("no trigger found", "good"), "inconclusive": ("inconclusive", "warn")}


def _triggers(doc: Mapping[str, Any], figures: Mapping[int, ClassFigures]) -> str:
    """The trigger check: outcome, reasons and notes, and per class the reversed mask and stamp with their numbers."""
    trig = doc.get("triggers")
    if not trig:
        return ""
    word, tone = _TRIGGER_TONES.get(str(trig.get("outcome")), (str(trig.get("outcome")), "neutral"))
    said = "".join(f"<li>{_t(r)}</li>" for r in trig.get("reasons", []))
    said += "".join(f'<li class="hint">{_t(n)}</li>' for n in trig.get("notes", []))
    rows = []
    for c in trig.get("classes", []):
        pictures = "".join(_figure(p, "trigger") for p in figures.get(int(c["class"]), ClassFigures()).trigger)
        flag = _pill("FLAGGED", "bad") if c.get("flagged") else ""
        rows.append(f"<tr><td>{_t(c['label'])} {flag}</td><td><div class=\"pair\">{pictures}</div></td>"
                    f"<td>{_pct(c.get('mask_fraction') or 0.0)}</td>"
                    f"<td>{_pct(c.get('success') or 0.0)} of {_t(c.get('held_out'))}</td>"
                    f"<td>{_t(_fmt(c.get('anomaly_index'), 2))}</td><td>{_t(c.get('location'))}</td></tr>")
    return (f'<section class="triggers"><h3>Backdoor triggers (Neural Cleanse) {_pill(word, tone)}</h3>'
            f"<ul>{said}</ul>"
            '<table class="checks"><thead><tr><th>class</th><th>mask, stamp</th><th>mask</th>'
            "<th>held-out success</th><th>anomaly index</th><th>where</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></section>")


# --------------------------------------------------------------------------- articles and pages
def report_article(doc: Mapping[str, Any], figures: Mapping[int, ClassFigures] | None = None, *,
                   anchor: str = "report") -> str:
    """One checked model as an ``<article>``: verdict on top, signals, a section per class, the settings.

    ``doc`` is a gate document (:func:`~amaxcheck.output.reporting.build_document`),
    ``figures`` the pictures per class index (classes without any are shown
    without pictures), ``anchor`` the article's ``id`` (class sections are
    ``{anchor}-c{index}``).
    """
    figures = figures or {}
    classes = "".join(_class_section(doc, c, figures.get(int(c["index"]), ClassFigures()), anchor)
                      for c in doc.get("classes", []))
    return (f'<article class="report" id="{_t(anchor)}" data-verdict="{_t(doc.get("verdict") or "none")}" '
            f'data-passed="{"true" if doc.get("passed") else "false"}">{_header(doc)}{_signals(doc)}'
            f'{_triggers(doc, figures)}{_overview(doc, figures, anchor)}<div class="classes">{classes}</div>{_settings(doc)}</article>')


def report_html(doc: Mapping[str, Any], figures: Mapping[int, ClassFigures] | None = None) -> str:
    """The gate's page (``--html``): :func:`report_article` of ``doc`` in a self-contained document."""
    verdict = str(doc.get("verdict") or "no verdict").upper()
    title = f"amaxcheck: {_model_name(doc)} {verdict}, {'PASSED' if doc.get('passed') else 'FAILED'}"
    return _page(title, report_article(doc, figures))


def session_html(tests: Sequence[CheckedTest], title: str = "amaxcheck: pytest session") -> str:
    """The plugin's page (``--amax-html``): each test that checked a model, with its articles, in the order given."""
    failed = sum(1 for t in tests if t.outcome != "passed")
    models = sum(len(t.articles) for t in tests)
    index = "".join(f'<li><a href="#{anchor_for(t.nodeid)}">{_t(t.nodeid)}</a> '
                    f'{_pill(t.outcome, "good" if t.outcome == "passed" else "bad")}</li>' for t in tests)
    head = (f'<header class="session"><h1>{_t(title)}</h1><p class="summary">{len(tests)} test'
            f'{"s" if len(tests) != 1 else ""} checked {models} report{"s" if models != 1 else ""}; '
            f"{len(tests) - failed} passed, {failed} did not</p>"
            + (f'<ol class="tests">{index}</ol>' if index else '<p class="empty">no test checked a model</p>')
            + "</header>")
    body = "".join(f'<section class="test" id="{anchor_for(t.nodeid)}" data-outcome="{_t(t.outcome)}">'
                   f'<h2 class="test-name">{_t(t.nodeid)} {_pill(t.outcome, "good" if t.outcome == "passed" else "bad")}'
                   f'</h2>{"".join(t.articles)}</section>' for t in tests)
    return _page(title, head + body)


def write_html(path: str | os.PathLike[str], page: str) -> Path:
    """Write ``page`` (from :func:`report_html` or :func:`session_html`) to ``path`` atomically, as UTF-8."""
    return atomic_write_text(path, page)


def _page(title: str, body: str) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta name="generator" content="{_t(GENERATOR)}">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_t(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<main>{body}</main>",
        f'<p class="generator">made by {_t(GENERATOR)}: one file, no server, no script</p>',
        "</body>",
        "</html>",
        "",
    ])


_CSS = """
:root{--good:#1a7f37;--good-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--warn:#9a6700;--warn-bg:#fff8c5;
--neutral:#57606a;--neutral-bg:#eaeef2;--line:#d0d7de;--ink:#1f2328;--muted:#656d76;--card:#fff;--page:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:var(--page);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:20px 16px}
h1,h2,h3,h4{margin:0;line-height:1.25}
h4{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600;margin-bottom:6px}
ul,ol{margin:0;padding-left:20px}
.report,.session,.test>h2{background:var(--card);border:1px solid var(--line);border-radius:10px}
.report{padding:20px 24px;margin-bottom:24px}
.session{padding:20px 24px;margin-bottom:20px}.session .summary{color:var(--muted);margin:6px 0 10px}
.test>h2{font:600 15px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:10px 16px;margin:0 0 10px;
overflow-wrap:anywhere}
.test .report{border-top:4px solid var(--line)}
.report[data-verdict=healthy]{border-top:6px solid var(--good)}
.report[data-verdict=degenerate]{border-top:6px solid var(--bad)}
.report[data-verdict=inconclusive]{border-top:6px solid var(--warn)}
.verdict-head h2.model{font-size:24px}
.where{color:var(--muted);margin:4px 0 12px;font-family:ui-monospace,monospace;font-size:12px;overflow-wrap:anywhere}
.badges{display:flex;flex-wrap:wrap;align-items:center;gap:10px;margin:0 0 12px}
.badge{display:inline-block;padding:6px 14px;border-radius:8px;font-weight:700;font-size:18px;letter-spacing:.03em}
.badge.gate{font-size:14px;padding:4px 10px}
.summary{color:var(--muted)}
.pair{display:flex;gap:6px}
.good.badge,.good.pill,.chip.good{background:var(--good-bg);color:var(--good)}
.bad.badge,.bad.pill,.chip.bad{background:var(--bad-bg);color:var(--bad)}
.warn.badge,.warn.pill{background:var(--warn-bg);color:var(--warn)}
.neutral.badge,.neutral.pill{background:var(--neutral-bg);color:var(--neutral)}
.badge.verdict.good{background:var(--good);color:#fff}.badge.verdict.bad{background:var(--bad);color:#fff}
.badge.verdict.warn{background:#d4a72c;color:#fff}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.reasons{margin:0 0 8px}.reasons li{margin:3px 0}
.notes{color:var(--muted);font-size:12px;margin:4px 0}
.signals{margin:16px 0;padding-top:14px;border-top:1px solid var(--line)}
.signals h3{font-size:15px;margin-bottom:2px}.hint{color:var(--muted);font-size:12px;margin:0 0 8px}
.signal{display:grid;grid-template-columns:170px 260px 48px 180px auto;align-items:center;column-gap:12px;
padding:6px 0;border-bottom:1px dashed #eaeef2}
.signal .why{grid-column:1/-1;margin:2px 0 0;color:var(--muted);font-size:12px}
.signal .name,.metric .name{font-weight:600}
.value{font-variant-numeric:tabular-nums;text-align:right;font-weight:600}
.null{color:var(--muted);font-size:12px}
.signal .pill{justify-self:start}
.bar{position:relative;display:inline-block;height:12px;width:100%;background:var(--neutral-bg);border-radius:6px;
overflow:visible}
.fill{position:absolute;left:0;top:0;bottom:0;border-radius:6px;background:var(--neutral)}
.fill.good{background:var(--good)}.fill.bad{background:var(--bad)}.fill.warn{background:#d4a72c}
.fill.neutral{background:#8c959f}
.mark{position:absolute;top:-4px;bottom:-4px;width:3px;margin-left:-1px;background:var(--ink);border-radius:1px}
.overview{display:flex;flex-wrap:wrap;gap:8px;margin:16px 0;padding-top:14px;border-top:1px solid var(--line)}
.chip{display:flex;flex-direction:column;align-items:center;gap:3px;padding:6px;border-radius:8px;
text-decoration:none;font-weight:600;font-size:12px;min-width:62px;border:1px solid transparent}
.chip:hover{border-color:currentColor}
img{image-rendering:pixelated;image-rendering:crisp-edges;background:#000;display:block;border-radius:3px}
.class{border:1px solid var(--line);border-left:6px solid var(--good);border-radius:8px;padding:12px 16px;
margin:12px 0;background:#fff}
.class.bad{border-left-color:var(--bad)}
.class h3{font-size:17px;display:flex;align-items:baseline;gap:10px;flex-wrap:wrap}
.class .index{color:var(--muted);font-weight:400;font-size:13px}
.class .confidence{color:var(--muted);font-weight:600;font-size:13px}
.class-body{margin-top:10px}
.numbers{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:8px 40px;margin-top:14px}
.gallery{display:flex;flex-wrap:wrap;gap:14px 18px;align-items:flex-start}
.pictures .notes{margin-top:8px}
.group .tiles{display:flex;flex-wrap:wrap;gap:8px}
.group.control,.group.reference{padding-left:14px;border-left:1px solid var(--line)}
.tile{margin:0;display:flex;flex-direction:column;align-items:center;gap:3px}
.tile img{outline:1px solid var(--line)}
.tile.best img{outline:3px solid var(--good);outline-offset:1px}
.class.bad .tile.best img{outline-color:var(--bad)}
.tile figcaption{font-size:11px;color:var(--muted);max-width:96px;text-align:center;overflow-wrap:anywhere}
.tile.best figcaption{color:var(--ink);font-weight:600}
.metric{display:grid;grid-template-columns:90px 1fr 48px 60px;align-items:center;column-gap:10px;margin:4px 0 8px}
.parts{display:grid;grid-template-columns:repeat(2,1fr);gap:4px 16px;margin:6px 0 10px}
.part{display:grid;grid-template-columns:72px 1fr 34px;align-items:center;column-gap:6px;font-size:11px}
.part .bar{height:6px}.part .fill{border-radius:3px}.part .name{color:var(--muted)}
.ranking ol{list-style:none;padding:0}
.ranking li{display:grid;grid-template-columns:90px 1fr 48px;align-items:center;column-gap:10px;margin:3px 0}
.ranking li .bar{height:8px}.ranking li.target .name{font-weight:700}
.ranking li .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
details{margin-top:8px}summary{cursor:pointer;color:var(--muted);font-size:12px}
table.checks{border-collapse:collapse;width:100%;margin-top:6px;font-size:12px}
.checks th,.checks td{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left;vertical-align:top}
.checks td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.settings{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px;margin-top:18px;
padding-top:14px;border-top:1px solid var(--line)}
.facts dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0;font-size:12px}
.facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,monospace}
.tests{columns:2;font-family:ui-monospace,monospace;font-size:12px}.tests li{margin:2px 0}
.tests a{color:var(--ink)}
.generator{text-align:center;color:var(--muted);font-size:12px;margin:0 0 24px}
@media (max-width:900px){.numbers{grid-template-columns:1fr}.signal{grid-template-columns:130px 1fr 48px}
.signal .null,.signal .pill{grid-column:auto}}
""".strip()
