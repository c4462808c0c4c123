"""The plugin end to end, through real pytest runs in subprocesses (pytester) on the bundled digits model.

One inner test module is run three times, each run checking a stage:

1. full run under ``pytest -n 2`` (pytest-xdist): passing and failing tests,
   failure messages, artifacts (written on failure only, one folder per test and
   worker, an earlier run's folders cleaned), JUnit properties, the session
   cache, the marker, bad inputs (a fixture that returns no model, a marker
   typo, a corrupt baseline), and missing baselines created (the test fails once);
2. baselines again, with an unwritable artifacts folder: the created baseline
   passes, an edited one drifts, and the unwritable folder is named in a clear
   message while the run still reports every test;
3. ``--amax-update-baselines``: all baselines rewritten, passing, and equal to
   the one that passed in stage 2 (so the next run passes).

Settings are small (64 steps, 2 restarts) and the tests of a process share one
synthesis through the session cache, so a run costs little more than importing TensorFlow.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "digits" / "digits_cnn.keras"
REFERENCE = ROOT / "examples" / "digits" / "reference.npz"
SMALL = ("--amax-steps", "64", "--amax-restarts", "2")
TIMEOUT = 300

CONFTEST = f"""
import pytest

@pytest.fixture(scope="session")
def digits_model():
    import keras
    return keras.saving.load_model({str(MODEL)!r})

@pytest.fixture
def not_a_model():
    return {str(MODEL)!r}  # a path, not a loaded model: a common slip
"""

TESTS = f"""
import numpy as np
import pytest
import amaxcheck


def test_every_digit_has_a_real_ideal_input(amax, digits_model):
    result = amax.synthesize(digits_model, classes="all")
    amaxcheck.assert_confident(result, min_p=0.9)
    amaxcheck.assert_in_top_k(result, k=1)
    amaxcheck.assert_not_degenerate(result)


def test_with_reference_data(amax, digits_model):
    ref = np.load({str(REFERENCE)!r})
    result = amax.synthesize(digits_model, classes="all")
    amaxcheck.assert_confident(result, min_p=0.9)
    amaxcheck.assert_in_top_k(result, k=1)
    amaxcheck.assert_stats_within(result, saturation=(None, 1.0))
    amaxcheck.assert_not_degenerate(result, reference=ref["x"], reference_labels=ref["y"])


def test_cache_serves_repeats(amax, amax_cache, digits_model):
    runs = amax_cache.info()["runs"]
    result = amax.synthesize(digits_model, classes="all")
    assert amax.synthesize(digits_model, classes="all") is result
    assert amax_cache.info()["runs"] <= runs + 1
    assert (result.settings["steps"], result.settings["restarts"], result.seed) == (64, 2, 0)


def test_impossible_confidence(amax, digits_model):
    result = amax.synthesize(digits_model, classes="all")
    amaxcheck.assert_confident(result, min_p=1.0)


@pytest.mark.amaxcheck(steps=32)
def test_marker_sets_steps_and_arguments_win(amax, digits_model):
    assert amax.synthesize(digits_model, classes=[0]).settings["steps"] == 32
    assert amax.synthesize(digits_model, classes=[0], steps=16).settings["steps"] == 16


@pytest.mark.amaxcheck(step=3)
def test_marker_typo(amax):
    pass


def test_fixture_returns_no_model(amax, not_a_model):
    amax.synthesize(not_a_model, classes="all")


def test_plain_failure_still_saves_artifacts(amax, digits_model):
    result = amax.synthesize(digits_model, classes="all")
    assert result.seed == 12345, "deliberate failure outside the helpers"


@pytest.mark.parametrize("case", ["plain", "drift", "corrupt"])
def test_baseline(amax, digits_model, case):
    result = amax.synthesize(digits_model, classes="all")
    amax.baseline(amax.check(result, verdict=False))
"""


# --------------------------------------------------------------------------- helpers
def _outcomes(xml: Path) -> dict[str, tuple[str, dict[str, str], str]]:
    """``{test name: (outcome, properties, failure text)}`` from a JUnit XML file."""
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        outcome = "passed" if bad is None else bad.tag
        out[case.get("name")] = (outcome, props, "" if bad is None else (bad.get("message", "") + (bad.text or "")))
    return out


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    xml = pytester.path / f"junit-{len(list(pytester.path.glob('junit-*.xml')))}.xml"
    result = pytester.runpytest_subprocess(*SMALL, "-p", "no:cacheprovider", "--strict-markers", "-rA",
                                           f"--junitxml={xml}", *args, timeout=TIMEOUT)
    return result, _outcomes(xml)


def _baseline(pytester: pytest.Pytester, case: str) -> Path:
    return pytester.path / "amax_baselines" / "test_models" / f"test_baseline_{case}.json"


def _artifact_dirs(pytester: pytest.Pytester) -> dict[str, Path]:
    root = pytester.path / "amaxcheck-artifacts" / "pytest"
    return {json.loads((d / "amaxcheck-test.json").read_text())["test"].split("::")[-1]: d
            for d in root.iterdir() if (d / "amaxcheck-test.json").is_file()} if root.is_dir() else {}


# --------------------------------------------------------------------------- stage checks
def _check_full_run(pytester: pytest.Pytester, result: pytest.RunResult, tests: dict) -> None:
    out = result.stdout.str()
    outcome = {name: t[0] for name, t in tests.items()}
    # the contract test, word for word, passes on the healthy digits model (no reference data needed)
    contract = tests["test_every_digit_has_a_real_ideal_input"]
    assert contract[0] == "passed", contract[2]
    assert {k: v for k, v in outcome.items() if k != "test_every_digit_has_a_real_ideal_input"} == {
        "test_with_reference_data": "passed",
        "test_cache_serves_repeats": "passed",
        "test_impossible_confidence": "failure",
        "test_marker_sets_steps_and_arguments_win": "passed",
        "test_marker_typo": "error",
        "test_fixture_returns_no_model": "failure",
        "test_plain_failure_still_saves_artifacts": "failure",
        "test_baseline[plain]": "failure",
        "test_baseline[drift]": "failure",
        "test_baseline[corrupt]": "failure",
    }, out
    result.stdout.fnmatch_lines(["amaxcheck * (tensorflow *, keras *): seed 0, steps 64, restarts 2"])

    # failure message: every class with label, value, threshold and image path; the folder; the model
    message = tests["test_impossible_confidence"][2]
    assert "assert_confident: 10 of 10 classes failed 'confidence'" in message
    for digit in range(10):
        assert re.search(rf"- class {digit}: confidence = [0-9.]+, threshold 1 -- target probability", message)
        assert f"class_{digit:03d}_{digit}.png" in message
    assert "artifacts: " in message and "model digits_standard (fingerprint " in message
    assert "seed 0, steps 64, restarts 2" in message

    # artifacts: written for failing tests only, complete, upscaled
    dirs = _artifact_dirs(pytester)
    assert set(dirs) >= {"test_impossible_confidence", "test_plain_failure_still_saves_artifacts"}
    assert not {"test_with_reference_data", "test_cache_serves_repeats"} & set(dirs)
    folder = dirs["test_impossible_confidence"]
    assert str(folder) in message
    assert all(re.search(r"\.gw[01]$", d.name) for d in dirs.values()), dirs  # unique per xdist worker
    names = {p.name for p in folder.iterdir()}
    assert {f"class_{d:03d}_{d}.png" for d in range(10)} | {"grid.png", "ideal_inputs.npz", "summary.json"} <= names
    from PIL import Image

    assert Image.open(folder / "class_003_3.png").size == (96, 96)  # 16x16 input, nearest-neighbour x6
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["test"].endswith("::test_impossible_confidence") and len(summary["classes"]) == 10
    result.stdout.fnmatch_lines(["*- amaxcheck artifacts -*", f"{dirs['test_plain_failure_still_saves_artifacts']}"])

    # bad input reaches the user in plain words
    assert "ModelError: expected a keras.Model, got builtins.str" in tests["test_fixture_returns_no_model"][2]
    assert "unknown setting 'step'; did you mean 'steps'?" in tests["test_marker_typo"][2]
    corrupt = tests["test_baseline[corrupt]"][2]
    assert f"baseline file {_baseline(pytester, 'corrupt')} is corrupt" in corrupt
    assert "--amax-update-baselines" in corrupt

    # missing baselines are written and fail once
    for case in ("plain", "drift"):
        assert _baseline(pytester, case).is_file()
        assert "did not exist; it was written from this run" in tests[f"test_baseline[{case}]"][2]

    # JUnit properties and the summary
    props = tests["test_with_reference_data"][1]
    assert float(props["amaxcheck_min_confidence"]) >= 0.9
    assert 0.0 <= float(props["amaxcheck_max_degeneracy"]) <= 0.5 and props["amaxcheck_verdict"] == "healthy"
    assert props["amaxcheck_confidence[7]"] and props["amaxcheck_failed_classes"] == "0"
    assert tests["test_impossible_confidence"][1]["amaxcheck_artifacts"] == str(folder)
    match = re.search(r"(\d+) synthesis run\(s\), (\d+) served from the session cache", out)
    assert match and int(match.group(2)) >= 4, out  # counted over both workers
    split = re.search(r"time: trace ([0-9.]+) s, synthesis ([0-9.]+) s, controls ([0-9.]+) s, checks ([0-9.]+) s, "
                      r"outputs ([0-9.]+) s", out)
    assert split and float(split.group(2)) > 0 and float(split.group(4)) > 0, out  # summed over both workers
    result.stdout.fnmatch_lines(["baselines created: 2"])


def _drift_the_baseline(pytester: pytest.Pytester) -> None:
    path = _baseline(pytester, "drift")
    data = json.loads(path.read_text())
    data["classes"]["4"]["stats"]["entropy"] *= 2
    data["classes"]["7"]["confidence"] = 0.5
    path.write_text(json.dumps(data))


def _check_drift_and_unwritable(pytester: pytest.Pytester, result: pytest.RunResult, tests: dict,
                                blocked: Path) -> None:
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert tests["test_baseline[plain]"][0] == "passed"
    drift = tests["test_baseline[drift]"][2]
    assert f"amaxcheck baseline drift: 2 difference(s) from {_baseline(pytester, 'drift')}" in drift
    assert re.search(r"class 4: stat entropy [0-9.]+ -> [0-9.]+ \(\|diff\| [0-9.]+ > tolerance", drift)
    assert re.search(r"class 7: confidence 0.5 -> 0.9[0-9]* \(", drift)
    assert "rerun with --amax-update-baselines" in drift
    assert tests["test_baseline[corrupt]"][0] == "failure"
    # the unwritable artifacts folder is named, and the real failure is still reported
    message = tests["test_impossible_confidence"][2]
    assert "assert_confident: 10 of 10 classes failed 'confidence'" in message
    assert f"NOT SAVED: could not write amaxcheck artifacts to {blocked}" in message
    assert "Not a directory" in message
    result.stdout.fnmatch_lines(["*AmaxcheckWarning: NOT SAVED: could not write amaxcheck artifacts to*"])


def _check_update(pytester: pytest.Pytester, result: pytest.RunResult, tests: dict) -> None:
    assert {name: t[0] for name, t in tests.items()} == {
        "test_baseline[plain]": "passed", "test_baseline[drift]": "passed", "test_baseline[corrupt]": "passed"}
    result.stdout.fnmatch_lines(["baselines updated: 3"])
    plain = json.loads(_baseline(pytester, "plain").read_text())
    for case in ("drift", "corrupt"):  # rewritten from this run: the same data as the baseline that just passed
        assert json.loads(_baseline(pytester, case).read_text())["classes"] == plain["classes"]
    assert _artifact_dirs(pytester) == {}, "the first run's artifact folders were not cleaned"


def _plant_old_artifacts(pytester: pytest.Pytester) -> tuple[Path, Path]:
    """A folder an earlier run wrote (removed by the next run) and a user's folder (never touched)."""
    root = pytester.path / "amaxcheck-artifacts" / "pytest"
    old, mine = root / "test_gone.py-test_old-123456", root / "my-notes"
    old.mkdir(parents=True)
    (old / "amaxcheck-test.json").write_text('{"test": "test_gone.py::test_old", "run": "an-earlier-run"}')
    mine.mkdir()
    (mine / "notes.txt").write_text("not amaxcheck's")
    return old, mine


# --------------------------------------------------------------------------- the test
def test_plugin_end_to_end(pytester: pytest.Pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_models=TESTS)
    _baseline(pytester, "corrupt").parent.mkdir(parents=True)
    _baseline(pytester, "corrupt").write_text('{"amaxcheck_baseline": 1, "classes": {"0": ')  # interrupted write
    old, mine = _plant_old_artifacts(pytester)

    result, tests = _run(pytester, "-n", "2")
    _check_full_run(pytester, result, tests)
    assert not old.exists() and (mine / "notes.txt").is_file()

    _drift_the_baseline(pytester)
    (pytester.path / "blocker.txt").write_text("a file where the artifacts folder should be")
    blocked = pytester.path / "blocker.txt" / "artifacts"
    result, tests = _run(pytester, "-k", "baseline or impossible", f"--amax-artifacts-dir={blocked}")
    _check_drift_and_unwritable(pytester, result, tests, blocked)

    result, tests = _run(pytester, "--amax-update-baselines", "-k", "baseline")
    _check_update(pytester, result, tests)
