"""Gate CLI pieces that need no TensorFlow: options, pyproject defaults, inputs, output formats, early errors.

Every ``main([...])`` call here fails (or finishes) before TensorFlow would be
imported, so these run in well under a second each.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from amaxcheck import cli, inputs, loading
from amaxcheck import pyproject as config
from amaxcheck.output import reporting
from amaxcheck.errors import ConfigError, ModelLoadError, ReferenceDataError, UnsafeModelError
from amaxcheck.verdict.report import CheckResult, ClassReport, RankedClass, Report

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits" / "digits_cnn.keras"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run from an empty folder (no pyproject.toml above it is read) and never touch a real step summary."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setattr(config, "find_pyproject", _find_below(tmp_path))


def _find_below(root: Path):
    """find_pyproject limited to ``root`` and below, so the test machine's folders above tmp do not leak in."""
    real = config.find_pyproject

    def find(start=None):
        found = real(start)
        return found if found is not None and root in found.parents else None

    return find


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("amaxcheck: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --------------------------------------------------------------------------- argument parsing
def test_input_range_parses_and_rejects():
    assert cli.parse_input_range("0,255") == (0.0, 255.0)
    assert cli.parse_input_range(" -1 , 1 ") == (-1.0, 1.0)
    for bad in ("1,0", "0,0", "a,b", "0", "0,1,2", "0,inf"):
        with pytest.raises(ConfigError, match="input-range"):
            cli.parse_input_range(bad)


def test_classes_parse_and_label_resolution():
    assert cli.parse_classes("all") == "all"
    assert cli.parse_classes("0, 3,7") == ["0", "3", "7"]
    with pytest.raises(ConfigError):
        cli.parse_classes("0,,3")
    assert cli._resolve_class_items(["0", "cat"], None) == [0, "cat"]
    # a label that is all digits stays a label when labels are given
    assert cli._resolve_class_items(["10", "2"], ["cat", "dog", "10"]) == ["10", 2]


@pytest.mark.parametrize("argv, needle", [
    (["gate", "m.keras", "--steps", "0"], "--steps"),
    (["gate", "m.keras", "--min-confidence", "1.5"], "--min-confidence"),
    (["gate", "m.keras", "--max-degeneracy", "-0.1"], "--max-degeneracy"),
    (["gate", "m.keras", "--bogus"], "unrecognized arguments: --bogus"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_flags_exit_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert_one_line_error(err, needle)


def test_help_and_version_exit_0(capsys):
    assert cli.main(["--version"]) == 0
    assert "amaxcheck" in capsys.readouterr().out
    assert cli.main(["gate", "--help"]) == 0
    assert "--max-degeneracy" in capsys.readouterr().out


# --------------------------------------------------------------------------- early bad inputs (no TensorFlow)
def test_missing_model_file(capsys):
    code, _, err = run(capsys, "gate", "nowhere/model.keras")
    assert code == 2
    assert_one_line_error(err, "model not found", "nowhere/model.keras")


def test_directory_that_is_not_a_savedmodel(capsys, tmp_path):
    (tmp_path / "empty_model").mkdir()
    code, _, err = run(capsys, "gate", "empty_model")
    assert code == 2
    assert_one_line_error(err, "not a TensorFlow SavedModel", "saved_model.pb")


def test_truncated_keras_file(capsys, tmp_path):
    (tmp_path / "cut.keras").write_bytes(DIGITS.read_bytes()[:4000])
    code, _, err = run(capsys, "gate", "cut.keras")
    assert code == 2
    assert_one_line_error(err, "cut.keras", "truncated")


def test_pickle_files_are_refused(tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(ModelLoadError, match="never unpickles"):
        loading.precheck(tmp_path / "model.pkl", unsafe=True)


def test_input_range_reversed(capsys):
    code, _, err = run(capsys, "gate", str(DIGITS), "--input-range", "1,0")
    assert code == 2
    assert_one_line_error(err, "--input-range", "lo < hi")


def test_unwritable_json_path_under_a_file(capsys, tmp_path):
    (tmp_path / "plain.txt").write_text("not a folder")
    code, _, err = run(capsys, "gate", str(DIGITS), "--json", "plain.txt/report.json")
    assert code == 2
    assert_one_line_error(err, "--json", "plain.txt", "not a folder")


def test_artifacts_path_that_is_a_file(capsys, tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    code, _, err = run(capsys, "gate", str(DIGITS), "--artifacts", "plain.txt")
    assert code == 2
    assert_one_line_error(err, "--artifacts", "not a folder")


def test_missing_labels_and_reference_files(capsys):
    code, _, err = run(capsys, "gate", str(DIGITS), "--labels", "nope.txt")
    assert code == 2
    assert_one_line_error(err, "--labels", "nope.txt")
    code, _, err = run(capsys, "gate", str(DIGITS), "--reference", "nope.npz")
    assert code == 2
    assert_one_line_error(err, "--reference", "nope.npz")


def test_no_model_anywhere(capsys):
    code, _, err = run(capsys, "gate")
    assert code == 2
    assert_one_line_error(err, "no MODEL given", "[tool.amaxcheck]")


# --------------------------------------------------------------------------- labels and reference files
def test_labels_text_and_json(tmp_path):
    (tmp_path / "a.txt").write_text("cat\n\ndog \n")
    assert inputs.read_labels(str(tmp_path / "a.txt")) == ["cat", "dog"]
    (tmp_path / "b.json").write_text('["cat", "dog", 3]')
    assert inputs.read_labels(str(tmp_path / "b.json")) == ["cat", "dog", "3"]
    (tmp_path / "c.json").write_text('{"0": "cat"}')
    with pytest.raises(ConfigError, match="JSON list"):
        inputs.read_labels(str(tmp_path / "c.json"))
    (tmp_path / "d.txt").write_text("cat\ncat\n")
    with pytest.raises(ConfigError, match="repeats"):
        inputs.read_labels(str(tmp_path / "d.txt"))


def test_reference_npz_is_never_unpickled(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ReferenceDataError, match="never"):
        inputs.read_reference_npz(str(tmp_path / "obj.npz"))
    np.savez(tmp_path / "nox.npz", images=np.zeros((2, 4, 4, 1)))
    with pytest.raises(ReferenceDataError, match="no 'x'"):
        inputs.read_reference_npz(str(tmp_path / "nox.npz"))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ReferenceDataError, match="cannot read"):
        inputs.read_reference_npz(str(tmp_path / "junk.npz"))


def test_reference_folder_scaling_and_size_check(tmp_path):
    from PIL import Image

    for label, value in (("cat", 0), ("dog", 255)):
        (tmp_path / "ref" / label).mkdir(parents=True)
        Image.fromarray(np.full((4, 4), value, np.uint8)).save(tmp_path / "ref" / label / "a.png")
    x, y = inputs.read_reference_folder(str(tmp_path / "ref"), (4, 4, 1), (0.0, 255.0), ["cat", "dog"], 2)
    assert x.shape == (2, 4, 4, 1) and x.dtype == np.float32
    assert y.tolist() == [0, 1] and x[0].max() == 0.0 and x[1].min() == 255.0
    x, _ = inputs.read_reference_folder(str(tmp_path / "ref"), (4, 4, 1), (-1.0, 1.0), ["cat", "dog"], 2)
    assert x.min() == -1.0 and x.max() == 1.0
    with pytest.raises(ReferenceDataError, match="resize"):
        inputs.read_reference_folder(str(tmp_path / "ref"), (8, 8, 1), (0.0, 1.0), ["cat", "dog"], 2)
    with pytest.raises(ReferenceDataError, match="names no class"):
        inputs.read_reference_folder(str(tmp_path / "ref"), (4, 4, 1), (0.0, 1.0), None, 2)


# --------------------------------------------------------------------------- loading prechecks
def test_unsafe_parts_finds_lambda_and_tfsm():
    cfg = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "Lambda", "config": {"name": "lam", "function": {"class_name": "__lambda__", "config": {}}}},
        {"class_name": "Lambda", "config": {"name": "old", "function": ["b64", None, None], "function_type": "lambda"}},
        {"class_name": "Lambda", "config": {"name": "ok", "function": {"class_name": "function", "config": "relu"}}},
        {"class_name": "TFSMLayer", "config": {"name": "sm"}},
        {"class_name": "Dense", "config": {"name": "d"}}]}}
    found = loading.unsafe_parts(cfg)
    assert len(found) == 3
    assert any("'lam'" in f for f in found) and any("'old'" in f for f in found) and any("TFSMLayer" in f for f in found)


def test_savedmodel_folder_needs_unsafe(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(UnsafeModelError, match="--unsafe"):
        loading.precheck(tmp_path / "sm")
    assert loading.precheck(tmp_path / "sm", unsafe=True) == "savedmodel"


def test_model_kinds_and_hashes(tmp_path):
    assert loading.model_kind("some.pkg:build") == "function"
    assert loading.model_kind(DIGITS) == "keras"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.bin").write_bytes(b"abc")
    first = loading.sha256_of(tmp_path / "d")
    (tmp_path / "d" / "a.bin").write_bytes(b"abd")
    assert loading.sha256_of(tmp_path / "d") != first
    import hashlib

    assert loading.sha256_of(DIGITS) == hashlib.sha256(DIGITS.read_bytes()).hexdigest()
    with pytest.raises(ModelLoadError, match="unsupported"):
        loading.model_kind(tmp_path / "d" / "a.bin")


# --------------------------------------------------------------------------- pyproject defaults
def _write_pyproject(folder: Path, body: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n\n[tool.amaxcheck]\n" + body)
    return path


def test_pyproject_values_and_relative_paths(tmp_path):
    _write_pyproject(tmp_path, 'model = "models/m.keras"\nlabels = "labels.txt"\ninput-range = [0, 255]\n'
                               'classes = [0, "cat"]\nsteps = 16\nmin_confidence = 0.8\ntop-k = 2\n')
    (tmp_path / "sub").mkdir()
    found = config.load_defaults(tmp_path / "sub")
    assert found.path == tmp_path / "pyproject.toml"
    v = found.values
    assert v["model"] == str(tmp_path / "models/m.keras") and v["labels"] == str(tmp_path / "labels.txt")
    assert v["input_range"] == "0.0,255.0" and v["classes"] == "0,cat"
    assert v["steps"] == 16 and v["min_confidence"] == 0.8 and v["top_k"] == 2


def test_pyproject_module_function_model_kept(tmp_path):
    _write_pyproject(tmp_path, 'model = "mypkg.models:build"\n')
    assert config.load_defaults(tmp_path).values["model"] == "mypkg.models:build"


@pytest.mark.parametrize("body, needle", [
    ("unsafe = true\n", "--unsafe on the command line"),
    ("steps = 0\n", "steps must be an integer >= 1"),
    ("max-degeneracy = 2\n", "max-degeneracy must be a number in [0, 1]"),
    ("input-range = [1]\n", "input-range must be two numbers"),
    ("classes = [true]\n", "classes must be"),
    ("steps = [\n", "not valid TOML"),
    ('stop-plateau = "never"\n', "stop-plateau must be a number of steps >= 1 or 'off'"),
    ("stop-plateau = 0\n", "stop-plateau must be a number of steps >= 1 or 'off'"),
])
def test_pyproject_bad_values_exit_2(capsys, tmp_path, body, needle):
    _write_pyproject(tmp_path, body)
    code, _, err = run(capsys, "gate", str(DIGITS))
    assert code == 2
    assert_one_line_error(err, needle)


@pytest.mark.parametrize("flag, pyproject, window", [
    (None, None, 64), ("off", None, None), ("32", None, 32), (None, '"off"', None), (None, "false", None),
    (None, "48", 48), ("16", '"off"', 16),
])
def test_stop_plateau_flag_and_pyproject_key(tmp_path, flag, pyproject, window):
    _write_pyproject(tmp_path, f"model = \"{DIGITS}\"\n" + (f"stop-plateau = {pyproject}\n" if pyproject else ""))
    ns = cli.build_parser().parse_args(["gate"] + (["--stop-plateau", flag] if flag else []))
    opts = cli.resolve_options(ns, config.load_defaults(tmp_path))
    assert opts.ascent.stop_plateau == window


@pytest.mark.parametrize("value", ["0", "-3", "never", "1.5"])
def test_bad_stop_plateau_flag_is_one_line_exit_2(capsys, value):
    code, _, err = run(capsys, "gate", str(DIGITS), "--stop-plateau", value)
    assert code == 2
    assert_one_line_error(err, "--stop-plateau")


def test_pyproject_unknown_key_is_a_note(tmp_path):
    _write_pyproject(tmp_path, "stepz = 3\n")
    found = config.load_defaults(tmp_path)
    assert found.values == {} and "did you mean 'steps'" in found.notes[0]


def test_flags_win_over_pyproject(tmp_path):
    _write_pyproject(tmp_path, f'model = "{DIGITS}"\nsteps = 16\nseed = 5\nclasses = "1,2"\n')
    ns = cli.build_parser().parse_args(["gate", "--steps", "24"])
    opts = cli.resolve_options(ns, config.load_defaults(tmp_path))
    assert opts.steps == 24 and opts.seed == 5 and opts.classes == ["1", "2"] and opts.model == str(DIGITS)
    assert opts.restarts == cli.DEFAULTS["restarts"] and opts.input_range == (0.0, 1.0)


# --------------------------------------------------------------------------- output formats on a hand-built report
def _report() -> Report:
    def cls(index: int, label: str, conf: float, deg: float, fail: bool) -> ClassReport:
        checks = [
            CheckResult("confidence", "fail" if fail else "pass", conf, 0.9, f"target probability {conf:.3f}"),
            CheckResult("top_k", "pass", 1.0, 1, "target ranked 1 of 3"),
            CheckResult("stat:total_variation", "skip", None, [None, 0.8], "not defined"),
            CheckResult("degeneracy", "pass", deg, 0.5, f"degeneracy {deg:.2f} <= 0.5"),
        ]
        return ClassReport(index=index, label=label, confidence=conf, margin=conf - 0.05,
                           top_k=[RankedClass(index, label, conf)], in_top_k=True, degeneracy=deg, degenerate=False,
                           reasons=["spectrum like noise"] if fail else [], signals={"spectrum": deg, "reach": float("nan")},
                           stats={"total_variation": 0.1}, checks=checks, image=np.zeros((4, 4, 1), np.float32))

    return Report(classes=[cls(0, "cat", 0.99, 0.2, False), cls(2, "a|b <c> & \"d\"", 0.42, 0.4, True)],
                  degeneracy=0.3, degenerate=False, reasons=["1 of 2 classes: something"],
                  thresholds={"min_confidence": 0.9, "top_k": 1, "max_degeneracy": 0.5},
                  controls={"natural": "reference", "noise": "twin", "notes": ["a note"], "x": float("nan")})


def _doc() -> dict:
    extras = reporting.gate_extras(
        model={"path": "m.keras", "sha256": "ab" * 32, "input_shape": [4, 4, 1], "n_classes": 3},
        settings={"seed": 7, "steps": 16, "restarts": 1, "classes": [0, 2]},
        gate={"command": ["amaxcheck", "gate", "m.keras"], "wall_time_s": 1.5, "notes": []})
    return reporting.build_document(_report(), extras)


def test_document_is_strict_json_with_contract_keys():
    doc = _doc()
    text = reporting.to_json(doc)
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    for key in ("schema_version", "passed", "degenerate", "degeneracy", "model", "settings", "versions", "classes"):
        assert key in parsed
    assert parsed["passed"] is False and parsed["settings"]["seed"] == 7
    assert set(parsed["model"]) >= {"path", "sha256", "input_shape", "n_classes"}
    assert set(parsed["versions"]) == {"amaxcheck", "tensorflow", "keras", "numpy", "skimage"}
    c = parsed["classes"][1]
    assert set(c) >= {"index", "label", "confidence", "top_k", "in_top_k", "degeneracy", "degenerate", "stats",
                      "checks", "image"}
    assert {k["status"] for k in c["checks"]} == {"pass", "fail", "skip"}
    assert c["signals"]["reach"] is None and parsed["controls"]["x"] is None


def test_junit_xml_structure():
    root = ET.fromstring(reporting.junit_xml(_doc()))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 8 and suite.get("tests") == "8"
    assert suite.get("failures") == "1" and len(suite.findall("testcase/failure")) == 1
    assert suite.get("skipped") == "2" and len(suite.findall("testcase/skipped")) == 2
    for attr in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp"):
        assert suite.get(attr) is not None
    failed = suite.find("testcase/failure/..")
    assert failed.get("name") == "confidence" and failed.get("classname").startswith("amaxcheck.m.class_002_")
    assert "0.420" in failed.find("failure").get("message")
    props = {p.get("name"): p.get("value") for p in failed.find("properties")}
    assert props["label"] == 'a|b <c> & "d"' and props["confidence"] == "0.42" and props["signal.reach"] == ""
    suite_props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert suite_props["model.sha256"] == "ab" * 32 and suite_props["settings.seed"] == "7"


def test_markdown_and_terminal_table():
    doc = _doc()
    md = reporting.markdown(doc)
    assert md.startswith("## ❌ amaxcheck gate FAILED: 1 of 2 classes failing")
    assert "| class | label | confidence |" in md
    assert "a\\|b &lt;c&gt; &amp;" in md  # escaped for a table cell and for HTML
    assert md.count("<details>") == md.count("</details>") == 3
    table = reporting.terminal_table(doc)
    assert "FAIL" in table and "confidence" in table and table.splitlines()[-1].startswith("amaxcheck gate FAILED")
    assert "note: a note" in table


def test_step_summary_is_appended(tmp_path):
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert reporting.append_step_summary("## ours\n", {"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text() == "earlier step\n\n## ours\n"
    assert reporting.append_step_summary("x", {}) is None
