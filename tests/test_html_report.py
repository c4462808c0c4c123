"""The HTML report (``amaxcheck gate --html``, the plugin's ``--amax-html``), read back with an HTML parser.

Real gate runs on the bundled digits model write the page; :class:`Page` parses
it with :class:`html.parser.HTMLParser` into a small element tree, and the tests
assert its structure against the gate's own JSON document: the verdict on top,
one bar per signal with its null marked, one section per checked class holding
every restart's ideal input, the control's and real reference examples, and no
URL anywhere. A second run of the same command must write the same bytes. Labels
that are markup or control characters reach the page escaped. The plugin's page
comes from a real ``pytest -n 2`` run (pytester), the xdist workers' parts
written by the controller.
"""
from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

import amaxcheck
from amaxcheck import _cache
from amaxcheck.errors import AmaxcheckError, ConfigError, DataError
from amaxcheck.output.artifacts import to_uint8
from amaxcheck.output.figures import class_figures, picture
from amaxcheck.output.guard import written_by_amaxcheck
from amaxcheck.output.html import CheckedTest, Picture, anchor_for, report_html, session_html
from amaxcheck.output.text import xml_text
from amaxcheck.verdict.controls import cached_control, learned_nothing_control

from .test_cli_subprocess import amaxcheck as run_amaxcheck
from .test_label_controls import NASTY, RAW_CONTROLS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
MODEL, LABELS, REFERENCE = (str(EXAMPLE / n) for n in ("digits_cnn.keras", "labels.txt", "reference.npz"))
QUICK = ("--steps", "32", "--restarts", "2")
CLASSES = [0, 1, 4]  # 4 is one of the fixed control classes (4, 6), 0 and 1 are not
PNG_URI = "data:image/png;base64,"
#: labels that are markup, quotes and controls (the first five are the classes the hostile run checks)
HOSTILE = ['<script>alert("x")</script>', "\"q\" & 'a' <b>bold</b>", NASTY[0], NASTY[1], NASTY[8],
           *NASTY[2:8]][:10]


# --------------------------------------------------------------------------- a small DOM from html.parser
@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        """All text inside, entities decoded, whitespace runs collapsed."""
        return " ".join("".join(self._texts()).split())

    def _texts(self) -> list[str]:
        out = list(self.text_parts)
        for child in self.children:
            out += child._texts()
        return out

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        return [e for e in self.iter() if e is not self and (tag is None or e.tag == tag)
                and (cls is None or cls in e.classes)]

    def find(self, tag: str | None = None, cls: str | None = None) -> Element:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag} class={cls!r}> in <{self.tag} {self.attrs}>"
        return found[0]


class Page(HTMLParser):
    """The page as an element tree; raises on markup the parser has to guess about (unclosed or stray tags)."""

    VOID = frozenset({"meta", "img", "br", "hr", "input", "link", "source", "wbr"})

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.doctype = ""
        self.root = Element("#document", {})
        self._open = [self.root]
        self.feed(text)
        self.close()
        assert [e.tag for e in self._open] == ["#document"], f"unclosed elements: {[e.tag for e in self._open]}"

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self._open[-1].children.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self._open[-1].tag == tag, f"</{tag}> closes <{self._open[-1].tag}>"
        self._open.pop()

    def handle_data(self, data: str) -> None:
        self._open[-1].text_parts.append(data)

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        return self.root.find_all(tag, cls)

    def find(self, tag: str | None = None, cls: str | None = None) -> Element:
        return self.root.find(tag, cls)


def png_size(uri: str) -> tuple[int, int]:
    from PIL import Image

    assert uri.startswith(PNG_URI), uri[:40]
    with Image.open(io.BytesIO(base64.b64decode(uri[len(PNG_URI):], validate=True))) as image:
        assert image.format == "PNG"
        return image.size


def assert_self_contained(page: Page, text: str) -> None:
    """Every image inline, every link a fragment of this page, nothing that fetches or runs."""
    ids = {e.attrs["id"] for e in page.root.iter() if "id" in e.attrs}
    for element in page.root.iter():
        for name, value in element.attrs.items():
            if name in ("src", "srcset", "poster", "data", "action", "formaction", "background"):
                assert value.startswith(PNG_URI), f"<{element.tag} {name}={value[:60]!r}>"
            if name in ("href", "xlink:href"):
                assert value.startswith("#") and value[1:] in ids, f"<{element.tag} href={value!r}>"
            assert not name.startswith("on"), f"event handler on <{element.tag}>: {name}"
    assert not page.find_all("script") and not page.find_all("link") and not page.find_all("iframe")
    css = "".join(e.text for e in page.find_all("style"))
    assert "url(" not in css and "@import" not in css
    assert "http://" not in text and "https://" not in text


def signal_bar_position(style: str, prop: str) -> float:
    match = re.fullmatch(rf"{prop}:([0-9.]+)%", style)
    assert match, style
    return float(match.group(1)) / 100


# --------------------------------------------------------------------------- real gate runs
@pytest.fixture(scope="module")
def gate_page(tmp_path_factory) -> tuple[Path, dict]:
    """The page and the JSON document of one real gate run (digits, labels, reference, three classes)."""
    folder = tmp_path_factory.mktemp("gate_html")
    proc = run_amaxcheck("gate", MODEL, "--labels", LABELS, "--reference", REFERENCE, *QUICK,
                         "--classes", ",".join(map(str, CLASSES)), "--html", "report.html", "--json", "report.json",
                         cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "wrote json report.json; html report.html", proc.stderr
    return folder / "report.html", json.loads((folder / "report.json").read_text())


def test_the_page_is_one_self_contained_file_recognized_as_ours(gate_page):
    path, _ = gate_page
    text = path.read_bytes().decode("utf-8")
    page = Page(text)
    assert page.doctype.lower() == "doctype html"
    metas = {m.attrs.get("name") or m.attrs.get("http-equiv"): m.attrs.get("content") for m in page.find_all("meta")}
    assert metas["generator"] == f"amaxcheck {amaxcheck.__version__}"
    assert metas["Content-Security-Policy"] == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    assert_self_contained(page, text)
    assert written_by_amaxcheck(path, "html")
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_the_verdict_and_its_reasons_are_on_top(gate_page):
    path, doc = gate_page
    page = Page(path.read_text(encoding="utf-8"))
    article = page.find("article", "report")
    assert (article.attrs["data-verdict"], article.attrs["data-passed"]) == (doc["verdict"], "true") == ("healthy",
                                                                                                         "true")
    head = article.children[0]
    assert head.tag == "header" and "verdict-head" in head.classes  # first thing in the article
    badge = head.find("span", "verdict")
    assert badge.text == "HEALTHY" and badge.attrs["data-verdict"] == "healthy" and "good" in badge.classes
    assert head.find("span", "gate").text == "PASSED"
    assert [li.text for li in head.find("ul", "reasons").find_all("li")] == [" ".join(r.split()) for r in doc["reasons"]]
    assert f"naturalness {doc['naturalness']:.2f}" in head.find("span", "summary").text
    assert head.find("h2", "model").text == doc["model"]["name"]


def test_each_signal_is_a_bar_with_its_null_marked(gate_page):
    path, doc = gate_page
    rows = Page(path.read_text(encoding="utf-8")).find_all("div", "signal")
    assert [r.attrs["data-signal"] for r in rows] == [s["name"] for s in doc["signals"]] == [
        "weights", "reach", "held_out_accuracy"]
    for row, signal in zip(rows, doc["signals"]):
        bar = row.find("span", "bar")
        assert bar.attrs["role"] == "meter" and float(bar.attrs["aria-valuenow"]) == pytest.approx(signal["value"],
                                                                                                  abs=1e-4)
        fill = bar.find("span", "fill")
        assert signal_bar_position(fill.attrs["style"], "width") == pytest.approx(signal["value"], abs=1e-3)
        assert "good" in fill.classes and row.attrs["data-says"] == signal["says"] == "learned"
        marks = [signal_bar_position(m.attrs["style"], "left") for m in bar.find_all("span", "mark")]
        assert marks[0] == pytest.approx(signal["null"], abs=1e-3)
        assert row.find("span", "value").text == f"{signal['value']:.2f}"
        assert row.find("p", "why").text == " ".join(signal["reason"].split())
    accuracy = rows[2].find("span", "bar").find_all("span", "mark")
    assert len(accuracy) == 2  # chance and the "usable" line
    assert signal_bar_position(accuracy[1].attrs["style"], "left") == pytest.approx(
        doc["signals"][2]["details"]["usable"], abs=1e-3)


def test_one_section_per_class_with_every_restart_the_control_and_real_examples(gate_page):
    path, doc = gate_page
    page = Page(path.read_text(encoding="utf-8"))
    sections = page.find_all("section", "class")
    assert [int(s.attrs["data-class-index"]) for s in sections] == CLASSES
    control_classes = doc["controls"]["classes"]
    assert 4 in control_classes and 0 not in control_classes and 1 not in control_classes
    for section, entry in zip(sections, doc["classes"]):
        assert section.find("span", "label").text == entry["label"]
        assert section.find("span", "verdict").text == "PASS" and "good" in section.classes
        assert section.find("span", "confidence").text == f"p = {entry['confidence']:.3f}"
        restarts = section.find("div", "restarts").find_all("figure", "tile")
        assert len(restarts) == 2 and sum("best" in f.classes for f in restarts) == 1
        assert all(png_size(f.find("img").attrs["src"]) == (16, 16) for f in restarts)
        assert re.fullmatch(r"\u2605 best: restart [01], p=[01]\.\d{3}",
                            next(f for f in restarts if "best" in f.classes).find("figcaption").text)
        shown = [(float(f.find("figcaption").text.rsplit("p=", 1)[1]), "best" in f.classes) for f in restarts]
        assert max(p for p, _ in shown) == next(p for p, best in shown if best)  # the best has the highest p
        control = section.find("div", "control").find_all("figure", "tile")
        assert len(control) == 1 and png_size(control[0].find("img").attrs["src"]) == (16, 16)
        caption = control[0].find("figcaption").text
        notes = [li.text for li in section.find_all("li") if li.text.startswith("control shown for class")]
        if entry["index"] in control_classes:
            assert caption.startswith("untrained twin, p=") and not notes
        else:  # a class the controls do not ascend: the first control class is shown, and named
            first = str(control_classes[0])  # digits labels are the digits
            assert caption.startswith(f"untrained twin, class {first}, p=")
            assert notes == [(f"control shown for class {first}: the controls ascend the fixed classes "
                              f"{', '.join(map(str, control_classes))}, not {entry['label']}")]
        references = section.find("div", "reference").find_all("figure", "tile")
        assert len(references) == 4 and all(png_size(f.find("img").attrs["src"]) == (16, 16) for f in references)
        assert all(f.find("figcaption").text.startswith("reference #") for f in references)
        metrics = {m.attrs["data-metric"]: m for m in section.find_all("div", "metric")}
        assert set(metrics) == {"confidence", "degeneracy", "naturalness"}
        assert signal_bar_position(metrics["confidence"].find("span", "mark").attrs["style"], "left") == 0.9
        ranked = section.find("div", "ranking").find_all("li")
        assert len(ranked) == 4 and ranked[0].find("span", "name").text == entry["label"]
        checks = section.find("table", "checks").find("tbody").find_all("tr")
        assert [r.children[0].text for r in checks] == [c["name"] for c in entry["checks"]]
    chips = page.find("nav", "overview").find_all("a")
    assert [c.attrs["href"] for c in chips] == [f"#report-c{i}" for i in CLASSES]


def test_the_footer_holds_settings_and_versions_but_no_time(gate_page):
    path, doc = gate_page
    text = path.read_text(encoding="utf-8")
    footer = Page(text).find("footer", "settings")
    facts = {h.text: dict(zip((d.text for d in f.find_all("dt")), (d.text for d in f.find_all("dd"))))
             for f in footer.find_all("div", "facts") for h in [f.find("h4")]}
    assert facts["settings"]["steps"] == "32" and facts["settings"]["restarts"] == "2"
    assert facts["versions"]["amaxcheck"] == amaxcheck.__version__
    assert facts["model"]["sha256"] == doc["model"]["sha256"]
    assert "wall_time" not in text and "report.json" not in text  # no run time, no command line (it names outputs)


def test_the_same_run_writes_the_same_bytes(gate_page, tmp_path, monkeypatch):
    path, _ = gate_page
    monkeypatch.setenv("PYTHONHASHSEED", "1")  # another hash seed: no set or dict order may leak into the page
    proc = run_amaxcheck("gate", MODEL, "--labels", LABELS, "--reference", REFERENCE, *QUICK, "--classes",
                         ",".join(map(str, CLASSES)), "--html", "again.html", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "again.html").read_bytes() == path.read_bytes()


def test_labels_that_are_markup_or_controls_reach_the_page_escaped(tmp_path, monkeypatch, capsys):
    from amaxcheck import cli

    assert len(set(HOSTILE)) == 10
    (tmp_path / "labels.txt").write_bytes(("\n".join(HOSTILE) + "\n").encode())
    monkeypatch.chdir(tmp_path)  # the real gate, in-process (the subprocess route is tested above)
    code = cli.main(["gate", MODEL, "--labels", "labels.txt", "--steps", "16", "--restarts", "1",
                     "--classes", "0,1,2,3,4", "--html", "r.html", "--quiet"])
    assert code in (0, 1), capsys.readouterr().err
    text = (tmp_path / "r.html").read_bytes().decode("utf-8")
    assert not any(ch in text for ch in RAW_CONTROLS), "a raw control character reached the page"
    assert "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    page = Page(text)
    assert_self_contained(page, text)
    labels = [s.find("span", "label").text for s in page.find_all("section", "class")]
    assert labels == [" ".join(xml_text(label).split()) for label in HOSTILE[:5]]
    assert "esc\\x1b[31mred\\x1b[0m\\x0dcr" in labels and "bidi\\u202eevil" in labels
    chips = [a.text for a in page.find("nav", "overview").find_all("a")]
    assert chips == labels
    assert not page.find_all("div", "reference")  # no --reference: no real examples, and no note about them
    assert not any("real examples" in li.text for li in page.find_all("li"))


def test_a_foreign_file_or_a_folder_is_refused_before_the_run(tmp_path):
    (tmp_path / "mine.html").write_text("<!DOCTYPE html><html><head><title>mine</title></head></html>\n")
    (tmp_path / "sub").mkdir()
    proc = run_amaxcheck("gate", MODEL, "--html", "mine.html", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("amaxcheck: error: --html 'mine.html' already exists and is not an amaxcheck "
                                   "HTML report, so the gate will not replace it; pick another path or delete the file")
    assert (tmp_path / "mine.html").read_text().startswith("<!DOCTYPE html><html><head><title>mine")
    proc = run_amaxcheck("gate", MODEL, "--html", "sub", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "amaxcheck: error: --html 'sub' is a folder; give a file path"
    (tmp_path / "pyproject.toml").write_text('[tool.amaxcheck]\nhtml = "mine.html"\n')  # the same from the config
    proc = run_amaxcheck("gate", MODEL, cwd=tmp_path / "sub")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"amaxcheck: error: --html {str(tmp_path / 'mine.html')!r} already exists and is not "
                                   "an amaxcheck HTML report, so the gate will not replace it; pick another path or "
                                   "delete the file")


# --------------------------------------------------------------------------- from Python
def test_write_html_report_from_the_api_shows_the_cached_control(digits_model, digits_reference, tmp_path):
    result = amaxcheck.synthesize(digits_model, [4, 5], steps=16, restarts=2, progress=False)
    before = len(_cache.CONTROLS)
    assert cached_control(digits_model, result.config.replace(steps=17), 10) is None  # looked up, never built
    assert len(_cache.CONTROLS) == before
    report = amaxcheck.check(result, digits_model, reference=digits_reference[0],
                             reference_labels=digits_reference[1])
    control = cached_control(digits_model, result.config, 10)
    assert control is learned_nothing_control(digits_model, result.config, 10)  # the one check() cached
    assert control.images.shape == (len(control.classes), 16, 16, 1) and control.images.dtype == "float32"
    assert 0.0 <= control.images.min() and control.images.max() <= 1.0
    assert "images" not in control.summary() and report.controls["classes"] == list(control.classes)
    with pytest.raises(ConfigError, match="examples must be an integer >= 0, got -1"):
        class_figures(report, examples=-1)

    path = amaxcheck.write_html_report(report, tmp_path / "api.html", reference=digits_reference[0],
                                       reference_labels=digits_reference[1])
    assert "write_html_report" in amaxcheck.__all__ and path == tmp_path / "api.html"
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert_self_contained(page, text)
    article = page.find("article", "report")
    assert article.attrs["data-verdict"] == report.verdict and page.find("h2", "model").text == result.model_name
    sections = {int(s.attrs["data-class-index"]): s for s in page.find_all("section", "class")}
    assert sorted(sections) == [4, 5]
    shown = sections[4].find("div", "control").find("img").attrs["src"]  # class 4 is a control class
    assert 4 in control.classes and "class" not in sections[4].find("div", "control").find("figcaption").text
    expected = picture(to_uint8(control.images[list(control.classes).index(4)][None], (0.0, 1.0))[0], "x").uri
    assert shown == expected
    assert all(len(s.find("div", "reference").find_all("figure")) == 4 for s in sections.values())


# --------------------------------------------------------------------------- the renderer alone
def test_a_picture_must_be_an_inline_png():
    with pytest.raises(DataError) as info:
        Picture("https://example.com/x.png", 16, 16, "x")
    assert isinstance(info.value, AmaxcheckError)
    assert "must be an inline data:image/png;base64 URI, got 'https://example.com/x.png'" in str(info.value)
    assert "amaxcheck.output.figures.picture()" in str(info.value)
    for bad in ("data:image/svg+xml;base64,PHN2Zz4=", PNG_URI + "AAA=\" onerror=\"x", PNG_URI):
        with pytest.raises(DataError):
            Picture(bad, 1, 1, "x")


def test_reasons_messages_and_test_names_are_escaped_and_controls_shown():
    evil = 'x<img src=x onerror=alert(1)>"\x1b[2J\u202e'
    doc = {"schema_version": 1, "passed": False, "verdict": "degenerate", "reasons": [evil], "naturalness": None,
           "signals": [{"name": evil, "value": 0.2, "null": 0.5, "says": "nothing", "reason": evil, "details": {}}],
           "thresholds": {"min_confidence": 0.9}, "controls": {"notes": [evil]}, "settings": {"labels": evil},
           "model": {"path": evil}, "versions": {"amaxcheck": evil},
           "classes": [{"index": 3, "label": evil, "confidence": 0.5, "top_k": [], "degenerate": True,
                        "reasons": [evil], "signals": {}, "checks": [{"name": evil, "status": "fail", "value": None,
                                                                      "threshold": evil, "message": evil}]}]}
    single = report_html(doc)
    session = session_html([CheckedTest(f"test_x.py::test_y[{evil}]", "failed", ())])
    for text in (single, session):
        page = Page(text)
        assert not page.find_all("img") and not page.find_all("script")
        assert "\x1b" not in text and "\u202e" not in text and "<img src=x" not in text
        assert_self_contained(page, text)
    assert Page(single).find("article").attrs["data-verdict"] == "degenerate"
    assert Page(single).find("span", "verdict").text == "DEGENERATE"
    assert Page(session).find("section", "test").attrs["id"] == anchor_for(f"test_x.py::test_y[{evil}]")
    assert "x<img src=x onerror=alert(1)>\"\\x1b[2J\\u202e" in Page(single).find("ul", "reasons").text


def test_the_output_guard_knows_our_page_only(tmp_path):
    ours, theirs = tmp_path / "ours.html", tmp_path / "theirs.html"
    ours.write_text(session_html([]) + " " * 100_000)
    theirs.write_text('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body><pre>'
                      '&lt;meta name="generator" content="amaxcheck 0.1.0"&gt; <meta name="generator" '
                      'content="amaxcheck 0.1.0"></pre></body></html>')
    assert written_by_amaxcheck(ours, "html") and not written_by_amaxcheck(theirs, "html")


# --------------------------------------------------------------------------- the pytest plugin
PLUGIN_CONFTEST = f"""
import numpy as np
import pytest

@pytest.fixture(scope="session")
def digits_model():
    import keras
    return keras.saving.load_model({MODEL!r})

@pytest.fixture(scope="session")
def reference():
    data = np.load({REFERENCE!r})
    return data["x"], data["y"]
"""

PLUGIN_TESTS = """
import pytest
import amaxcheck


def test_healthy_with_reference(amax, digits_model, reference):
    result = amax.synthesize(digits_model, classes=[0, 7])
    report = amax.check(result, reference=reference[0], reference_labels=reference[1])
    assert report.verdict == "healthy"


def test_no_model_checked():
    pass


@pytest.mark.parametrize("tag", ['<i>"x"</i>'])
def test_impossible_confidence(amax, digits_model, tag):
    result = amax.synthesize(digits_model, classes=[1])
    amaxcheck.assert_confident(result, min_p=1.0)
"""


def test_the_plugin_writes_one_page_for_the_session_under_xdist(pytester: pytest.Pytester):
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_models=PLUGIN_TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--amax-steps", "32",
                                           "--amax-restarts", "2", "--amax-html", "out/session.html", timeout=300)
    result.assert_outcomes(passed=2, failed=1)
    path = pytester.path / "out" / "session.html"
    assert f"HTML report of 2 test(s): {path}" in result.stdout.lines
    text = path.read_bytes().decode("utf-8")
    page = Page(text)
    assert_self_contained(page, text)
    assert written_by_amaxcheck(path, "html")
    tests = page.find_all("section", "test")
    nodeids = ["test_models.py::test_healthy_with_reference", 'test_models.py::test_impossible_confidence[<i>"x"</i>]']
    assert [t.find("h2").text.rsplit(" ", 1)[0] for t in tests] == nodeids  # file order, not finishing order
    assert [t.attrs["data-outcome"] for t in tests] == ["passed", "failed"]
    assert '<i>"x"</i>' not in text
    assert [a.attrs["href"] for a in page.find("ol", "tests").find_all("a")] == [f"#{anchor_for(n)}" for n in nodeids]

    healthy = tests[0].find("article", "report")
    assert healthy.attrs["data-verdict"] == "healthy" and healthy.attrs["id"] == f"{anchor_for(nodeids[0])}-r1"
    sections = healthy.find_all("section", "class")
    assert [int(s.attrs["data-class-index"]) for s in sections] == [0, 7]
    for section in sections:
        assert len(section.find("div", "restarts").find_all("figure", "tile")) == 2
        assert len(section.find("div", "control").find_all("figure", "tile")) == 1
        assert len(section.find("div", "reference").find_all("figure", "tile")) == 4

    failed = tests[1].find("article", "report")
    assert failed.attrs["data-verdict"] == "none" and failed.attrs["data-passed"] == "false"
    section = failed.find("section", "class")
    assert section.find("span", "verdict").text == "FAIL" and not section.find_all("div", "control")
    assert "no learned-nothing control picture: the verdict was not computed" in section.text


@pytest.mark.parametrize(("value", "why"), [
    ("mine.html", ("{path!r} already exists and is not an amaxcheck HTML report, so it will not be replaced; pick "
                   "another path or delete the file")),
    ("folder", "{path!r} is a folder; give a file path"),
    ("mine.html/report.html", "{path!r} cannot be written: {parent!r} is a file, not a folder"),
], ids=["foreign file", "folder", "under a file"])
def test_the_ini_twin_is_read_and_guarded_before_the_tests_run(pytester: pytest.Pytester, value, why):
    ini = pytester.makeini(f"[pytest]\namax_html = {value}\n")
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    (pytester.path / "mine.html").write_text("<html>mine</html>")
    (pytester.path / "folder").mkdir()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = why.format(path=str(pytester.path / value), parent=str(pytester.path / "mine.html"))
    assert f"ERROR: amaxcheck: ini option amax_html in {ini} {message}" in result.stderr.lines, result.stderr.str()
    assert (pytester.path / "mine.html").read_text() == "<html>mine</html>"


def test_a_page_that_cannot_be_written_at_the_end_is_reported(pytester: pytest.Pytester):
    pytester.makepyfile(test_breaks_the_folder="""
import shutil
from pathlib import Path

def test_replace_the_folder_with_a_file():
    shutil.rmtree("out")
    Path("out").write_text("no longer a folder")
""")
    (pytester.path / "out").mkdir()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--amax-html", "out/session.html")
    result.assert_outcomes(passed=1)
    line = f"ERROR: could not write the amaxcheck HTML report {pytester.path / 'out' / 'session.html'}: "
    assert any(x.startswith(line) and x.endswith("; point --amax-html at a writable path")
               for x in result.stdout.lines), result.stdout.str()


# --------------------------------------------------------------------------- helpers
def _umask() -> int:
    from amaxcheck._atomic import current_umask

    return current_umask()
