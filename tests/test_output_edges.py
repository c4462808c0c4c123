"""The output edges: one renderer, one verdict word, one slug, and the error contract at the edges.

Reports are built by hand from the report dataclasses where only rendering is
under test; the real digits model is used where images and files are written.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import amaxcheck
from amaxcheck import pytest_plugin
from amaxcheck.errors import (AmaxcheckError, ArgumentTypeError, ClassSelectionError, ConfigError,
                              UnknownNameError)
from amaxcheck.output import baselines, reporting
from amaxcheck.output.artifacts import class_stem, write_artifacts
from amaxcheck.output.scope import ArtifactScope
from amaxcheck.output.text import aligned, slug
from amaxcheck.verdict.report import CheckResult, ClassReport, RankedClass, Report


def _class(index: int, label: str, *, conf: float, degenerate: bool = False) -> ClassReport:
    status = "pass" if conf >= 0.9 else "fail"
    checks = [CheckResult("confidence", status, conf, 0.9, f"target probability {conf:.3f}"),
              CheckResult("top_k", "pass", 1.0, 1, "target ranked 1")]
    return ClassReport(index=index, label=label, confidence=conf, margin=conf - 0.1,
                       top_k=[RankedClass(index, label, conf)], in_top_k=True, degeneracy=0.9 if degenerate else 0.1,
                       degenerate=degenerate, reasons=[], signals={}, stats={}, checks=checks)


def _report() -> Report:
    return Report(classes=[_class(0, "zero", conf=0.99), _class(1, "one", conf=0.42),
                           _class(2, "two", conf=0.95, degenerate=True)],
                  degeneracy=0.37, degenerate=False, reasons=[], controls={"notes": []},
                  thresholds={"min_confidence": 0.9, "top_k": 1, "max_degeneracy": 0.5})


# --------------------------------------------------------------------------- one slug
def _old_junit(text):
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "x"


def _old_artifact(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "class"


def _old_plugin(text, limit=80):
    out = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")
    return out[:limit].rstrip("_.") or "test"


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ09_.-/ :[]é\t"), max_size=140))
def test_one_slug_keeps_every_name_amaxcheck_wrote(text):
    """The three old slug functions, verbatim, against their replacements: file and folder names are unchanged."""
    assert slug(text) == _old_junit(text)
    assert class_stem(3, text) == f"class_003_{_old_artifact(text)}"
    assert pytest_plugin._slug(text) == _old_plugin(text)
    assert pytest_plugin._slug(text, 120) == _old_plugin(text, 120)


def test_slug_examples():
    assert slug("a|b <c>") == "a_b_c" and slug("///") == "x"
    assert class_stem(7, "x" * 39 + " y") == "class_007_" + "x" * 39 + "_"  # cut as before, not tidied
    assert pytest_plugin.artifact_folder_name("tests/test_m.py::test_x[a]").startswith("test_m.py-test_x_a-")
    assert aligned([("a", "bb"), ("ccc", "d")]) == ["a    bb", "ccc  d"]


# --------------------------------------------------------------------------- one verdict word
def test_one_word_per_class_in_every_rendering():
    doc = reporting.build_document(_report(), {})
    words = [reporting.class_verdict(c) for c in doc["classes"]]
    assert words == ["PASS", "FAIL", "DEGENERATE"]
    assert [reporting.grid_caption(c)[-1] for c in doc["classes"]] == words
    assert reporting.grid_caption(doc["classes"][1]) == ["one", "p=0.42 d=0.10", "FAIL"]
    rows = reporting.table_rows(doc)[1:]
    assert [row[5] for row in rows] == words
    md = reporting.markdown(doc)
    assert all(f"({c['label']}): {w}" in md for c, w in zip(doc["classes"], words))


def test_report_table_is_the_gate_table_and_says_fail_for_a_failing_class():
    """Report.table() once printed "ok" for a class that failed its confidence check."""
    report = _report()
    table = report.table()
    assert table == reporting.terminal_table(reporting.build_document(report, {}))
    row_one = next(line for line in table.splitlines() if line.startswith("1 "))
    assert "FAIL" in row_one and " ok " not in f" {row_one} "


def test_artifacts_grid_and_summary_come_from_the_gate_document(amax, digits_model, tmp_path):
    result = amax.synthesize(digits_model, classes=[0, 1], steps=16, restarts=1)
    report = amaxcheck.check(result, verdict=False, min_confidence=1.0)
    written = write_artifacts(report, tmp_path, summary_extra={"test": "t::x"})
    text = (tmp_path / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert summary == reporting.build_document(report, {"test": "t::x"})
    assert text == reporting.to_json(summary)
    assert [c["image"] for c in summary["classes"]] == [str(written["class_0"]), str(written["class_1"])]
    assert written["class_1"].name == "class_001_1.png" and written["grid"].is_file()


# --------------------------------------------------------------------------- the error contract
def test_unknown_class_in_a_report_names_the_classes_there_are():
    report = _report()
    with pytest.raises(ClassSelectionError) as info:
        report.for_class("seven")
    assert isinstance(info.value, KeyError) and isinstance(info.value, AmaxcheckError)  # callers catching KeyError
    assert str(info.value).startswith("class 'seven' is not in this report; ask for one of the labels "
                                      "['zero', 'one', 'two'] or indices [0, 1, 2]")
    assert report.for_class(1).label == "one" and report.for_class("two").index == 2


def test_unknown_check_names_the_checks_there_are():
    with pytest.raises(UnknownNameError) as info:
        _report().classes[0].check("confidance")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "class 'zero' has no check named 'confidance'; ask for one of ['confidence', 'top_k']"


def test_wrong_type_is_an_argument_type_error():
    assert issubclass(ArgumentTypeError, ConfigError) and issubclass(ArgumentTypeError, TypeError)
    with pytest.raises(ArgumentTypeError, match=r"takes the SynthesisResult .*got builtins.dict"):
        amaxcheck.assert_in_top_k({"images": []})


def test_bad_artifact_mode_and_tolerances_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="artifact mode must be one of always, on-failure, never, got 'sometimes'; "
                                          "pass mode="):
        ArtifactScope(tmp_path, mode="sometimes")
    data = baselines.baseline_data(_report())
    with pytest.raises(ConfigError, match="rtol and atol must be >= 0, got rtol=-1.*; pass non-negative tolerances"):
        baselines.compare(data, data, rtol=-1)


def test_save_artifacts_that_cannot_write_is_a_config_error(amax, digits_model, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = amax.synthesize(digits_model, classes=[0], steps=16, restarts=1)
    scope = amax._scope
    scope.folder = blocker / "sub"
    try:
        with pytest.raises(ConfigError, match="NOT SAVED: .*Point --amax-artifacts-dir"):
            amax.save_artifacts(result)
    finally:
        scope.errors.clear()  # the failure is this test's subject, not a warning for the run


# --------------------------------------------------------------------------- ini twins typed by pytest
def test_ini_twins_are_typed_and_the_command_line_wins(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\namax_update_baselines = yes\namax_steps = 7\namax_restarts = 3\n")
    config = pytester.parseconfig("--amax-steps", "5")
    assert config.getini("amax_update_baselines") is True  # a bool, not the text "yes"
    if pytest.version_tuple >= (8, 4):
        assert config.getini("amax_restarts") == 3
    resolved = pytest_plugin.resolve_settings(config)
    assert resolved.update_baselines is True and resolved.restarts == 3
    assert resolved.steps == 5  # command line over ini


def test_unreadable_ini_value_names_the_key_and_what_it_must_be(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\namax_update_baselines = maybe\n")
    config = pytester.parseconfig()
    with pytest.raises(pytest.UsageError, match=r"ini option amax_update_baselines in .*tox.ini must be true or false"):
        pytest_plugin.resolve_settings(config)


@pytest.mark.skipif(pytest.version_tuple < (9,), reason="native [tool.pytest] TOML tables arrived in pytest 9")
def test_native_toml_config_takes_numbers_and_booleans(pytester: pytest.Pytester):
    """Untyped twins read as strings, so `amax_steps = 7` in [tool.pytest] was refused."""
    pytester.makepyprojecttoml("[tool.pytest]\namax_steps = 7\namax_seed = 2\namax_update_baselines = true\n")
    resolved = pytest_plugin.resolve_settings(pytester.parseconfig())
    assert (resolved.steps, resolved.seed, resolved.update_baselines) == (7, 2, True)


# --------------------------------------------------------------------------- moved out of the CLI
def test_native_stderr_is_held_back_and_replayed_on_unexpected_errors(capfd):
    from amaxcheck._tfquiet import native_stderr_captured

    with native_stderr_captured():
        os.write(2, b"held back\n")
    assert "held back" not in capfd.readouterr().err
    with pytest.raises(RuntimeError), native_stderr_captured():
        os.write(2, b"explains the crash\n")
        raise RuntimeError("boom")
    assert "explains the crash" in capfd.readouterr().err
    with pytest.raises(ConfigError), native_stderr_captured():
        os.write(2, b"noise\n")
        raise ConfigError("our own error says enough")
    assert "noise" not in capfd.readouterr().err


def test_ascent_gif_frames(digits_model):
    from PIL import Image
    import io

    from amaxcheck.output.gif import ascent_gif

    data = ascent_gif(digits_model, [3], steps=4, best=0, size=32, restarts=1, seed=0)
    gif = Image.open(io.BytesIO(data))
    assert gif.n_frames == 4  # step 0, then 1, 2, 4
    assert np.asarray(gif.convert("L")).shape[1] >= 32
