"""Assertion helpers, baselines, the session cache and artifact scopes, in process, on the real digits model.

These tests use the plugin's own ``amax`` fixture (the plugin is active in this
session too) with tiny settings; subprocess runs are in test_plugin_runs.py.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

import amaxcheck
from amaxcheck.output import baselines
from amaxcheck.errors import ArgumentTypeError, BaselineError, ConfigError
from amaxcheck.output.scope import _CURRENT, ArtifactScope, artifacts_to, current_scope
from amaxcheck.pytest_plugin import artifact_folder_name

TINY = dict(classes=[0, 1, 2], steps=32, restarts=1, seed=0)


@pytest.fixture
def result(amax, digits_model):
    return amax.synthesize(digits_model, **TINY)


@pytest.fixture
def report(amax, result):
    return amax.check(result, verdict=False)


# --------------------------------------------------------------------------- helpers
def test_helpers_pass_and_return_the_report(result):
    report = amaxcheck.assert_confident(result, min_p=0.5)
    assert [c.index for c in report.classes] == [0, 1, 2]
    assert amaxcheck.assert_confident(report, min_p=0.5) is report  # same threshold: the report is reused
    assert amaxcheck.assert_in_top_k(report, k=1) is report
    amaxcheck.assert_stats_within(result, {"saturation": (None, 1.0)}, rms_contrast=(0, None))
    degeneracy = amaxcheck.assert_not_degenerate(result, max_degeneracy=1.0)
    assert all(np.isfinite(c.degeneracy) for c in degeneracy.classes)
    assert amaxcheck.assert_not_degenerate(degeneracy, max_degeneracy=1.0) is degeneracy


def test_naturalness_and_strict_verdict_helpers(result, tmp_path, digits_reference):
    report = amaxcheck.assert_naturalness(result, 0.0)
    assert all(0.0 <= c.naturalness <= 1.0 for c in report.classes)
    with artifacts_to(tmp_path), pytest.raises(AssertionError) as info:
        amaxcheck.assert_naturalness(result, 1.0)
    assert "3 of 3 classes failed 'naturalness'" in str(info.value)
    # no reference: a trained model is inconclusive, which passes unless strict
    assert amaxcheck.assert_not_degenerate(result).verdict == "inconclusive"
    with artifacts_to(tmp_path), pytest.raises(AssertionError) as info:
        amaxcheck.assert_not_degenerate(result, strict=True)
    assert "model: verdict INCONCLUSIVE (strict)" in str(info.value) and "--reference" in str(info.value)
    x, y = digits_reference
    assert amaxcheck.assert_not_degenerate(result, strict=True, reference=x, reference_labels=y).verdict == "healthy"


def test_failure_lists_every_class_with_value_threshold_and_image(result, tmp_path):
    with artifacts_to(tmp_path / "out") as scope:
        with pytest.raises(AssertionError) as info:
            amaxcheck.assert_confident(result, min_p=1.0)
    message = str(info.value)
    assert message.startswith("assert_confident: 3 of 3 classes failed 'confidence'")
    for digit in (0, 1, 2):
        image = tmp_path / "out" / f"class_{digit:03d}_{digit}.png"
        assert f"- class {digit}: confidence = " in message and ", threshold 1 -- target probability" in message
        assert f"image: {image}" in message and image.is_file()
    assert f"artifacts: {tmp_path / 'out'} (grid.png" in message
    assert "seed 0, steps 32, restarts 1" in message
    assert (tmp_path / "out" / "grid.png").is_file()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["passed"] is False
    assert scope.saved_folders == [tmp_path / "out"]
    assert current_scope() is not scope  # restored on exit


def test_stat_bounds_failure_names_the_statistic(result, tmp_path):
    with artifacts_to(tmp_path), pytest.raises(AssertionError) as info:
        amaxcheck.assert_stats_within(result, saturation=(None, -1))
    assert "failed 'stat:saturation'" in str(info.value)
    assert "stat:saturation = 0, threshold [-inf, -1]" in str(info.value)


def test_report_with_other_thresholds_is_checked_again(report, tmp_path):
    with artifacts_to(tmp_path), pytest.raises(AssertionError, match="3 of 3 classes failed 'confidence'"):
        amaxcheck.assert_confident(report, min_p=1.0)  # the report was made with 0.9
    orphan = copy.copy(report)
    orphan.result = None
    with pytest.raises(ConfigError, match="pass the SynthesisResult instead"):
        amaxcheck.assert_confident(orphan, min_p=1.0)


def test_helpers_work_without_pytest(result, tmp_path):
    token = _CURRENT.set(None)  # as outside pytest: no scope
    try:
        with pytest.raises(AssertionError) as info:
            amaxcheck.assert_in_top_k(result, k=1, min_confidence=1.0)  # passes: top-1 holds
            amaxcheck.assert_confident(result, min_p=1.0)
        assert "artifacts: not saved (run under pytest with the amaxcheck plugin, or pass artifacts_dir=...)" \
            in str(info.value)
        with pytest.raises(AssertionError) as info:
            amaxcheck.assert_confident(result, min_p=1.0, artifacts_dir=tmp_path / "explicit")
        assert f"artifacts: {tmp_path / 'explicit'}" in str(info.value)
        assert (tmp_path / "explicit" / "grid.png").is_file()
    finally:
        _CURRENT.reset(token)


def test_bad_arguments_say_what_to_pass(result):
    with pytest.raises(ArgumentTypeError, match="takes the SynthesisResult returned by amaxcheck.synthesize.*builtins.str"):
        amaxcheck.assert_confident("model.keras")
    with pytest.raises(ConfigError, match="needs at least one bound, e.g. saturation"):
        amaxcheck.assert_stats_within(result)
    with pytest.raises(ConfigError, match="must be a pair .lo, hi. with None for an open side"):
        amaxcheck.assert_stats_within(result, saturation=0.5)
    with pytest.raises(ValueError, match="unknown statistics"):
        amaxcheck.assert_stats_within(result, sharpness=(0, 1))


def test_unwritable_folder_is_named_and_the_failure_still_raised(result, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with artifacts_to(blocker / "sub") as scope, pytest.raises(AssertionError) as info:
        amaxcheck.assert_confident(result, min_p=1.0)
    assert f"NOT SAVED: could not write amaxcheck artifacts to {blocker / 'sub'}" in str(info.value)
    assert scope.errors and scope.saved_folders == []


# --------------------------------------------------------------------------- scopes
@pytest.mark.parametrize("mode, failed, written", [
    ("always", False, True), ("on-failure", False, False), ("on-failure", True, True), ("never", True, False)])
def test_scope_writes_at_the_end_by_mode(result, tmp_path, mode, failed, written):
    scope = ArtifactScope(tmp_path / "t", mode=mode, name="t.py::test_x", run="r1")
    scope.track(result)
    assert scope.finish(failed=failed) == []
    assert (tmp_path / "t" / "summary.json").is_file() is written
    if written:
        assert json.loads((tmp_path / "t" / "amaxcheck-test.json").read_text()) == {"test": "t.py::test_x", "run": "r1"}


def test_scope_properties_and_second_result_folder(result, report, amax, digits_model, tmp_path):
    other = amax.synthesize(digits_model, classes=[3], steps=16, restarts=1)
    scope = ArtifactScope(tmp_path / "t", mode="always")
    scope.track(result, report)
    scope.track(other)
    assert scope.folder_for(result) == tmp_path / "t" and scope.folder_for(other) == tmp_path / "t" / "result_2"
    props = dict(scope.properties())
    assert props["amaxcheck_min_confidence"] == pytest.approx(min(c.confidence for c in report.classes), abs=1e-6)
    assert props["amaxcheck_failed_classes"] == 0 and "amaxcheck_confidence[2]" in props
    assert "amaxcheck_max_degeneracy" not in props  # verdict=False: no degeneracy to report
    scope.finish(failed=False)
    assert (tmp_path / "t" / "result_2" / "class_003_3.png").is_file()


def test_artifact_folder_names_are_unique_and_readable():
    a = artifact_folder_name("tests/test_m.py::test_x[a b]")
    b = artifact_folder_name("tests/test_m.py::test_x[a_b]")
    assert a != b and a.startswith("test_m.py-test_x_a_b-")
    assert artifact_folder_name("tests/test_m.py::TestK::test_y").startswith("test_m.py-TestK-test_y-")
    assert artifact_folder_name("t.py::test_x", "gw1").endswith(".gw1")
    assert len(artifact_folder_name("t.py::test_" + "x" * 500)) < 110


# --------------------------------------------------------------------------- cache
def test_cache_keys_on_weights_and_settings(amax, amax_cache, digits_model, digits_model_path):
    import keras

    settings = dict(classes=[0], steps=16, restarts=1)
    first = amax.synthesize(digits_model, **settings)
    runs = amax_cache.runs
    same_weights = keras.saving.load_model(digits_model_path)  # another object, identical weights
    assert amax.synthesize(same_weights, **settings) is first and amax_cache.runs == runs
    assert amax.synthesize(digits_model, **{**settings, "seed": 1}) is not first
    changed = keras.saving.load_model(digits_model_path)
    kernel = changed.layers[-1].kernel
    kernel.assign(kernel.numpy() * 1.01)
    assert amax.synthesize(changed, **settings) is not first
    assert amax_cache.runs == runs + 2
    with pytest.raises(ValueError, match="read-only"):
        first.images[0, 0, 0, 0] = 1.0  # shared between tests: not writable


def test_amax_settings_default_to_the_options(amax):
    assert amax.settings["seed"] == 0


@pytest.mark.amaxcheck(steps=8, seed=5)
def test_amax_marker_settings(amax):
    assert amax.settings["steps"] == 8 and amax.settings["seed"] == 5


# --------------------------------------------------------------------------- baselines
def test_baseline_create_match_drift_update(report, tmp_path):
    path = tmp_path / "b" / "test_x.json"
    created = baselines.check_baseline(report, path, test="t::x")
    assert created.status == "created" and created.failed and path.is_file()
    assert baselines.check_baseline(report, path).status == "matched"
    data = json.loads(path.read_text())
    data["classes"]["1"]["stats"]["total_variation"] *= 1.5
    path.write_text(json.dumps(data))
    drifted = baselines.check_baseline(report, path)
    assert drifted.status == "drifted" and len(drifted.differences) == 1
    assert "class 1: stat total_variation" in drifted.message and "--amax-update-baselines" in drifted.message
    loose = baselines.check_baseline(report, path, tolerances={"total_variation": {"rtol": 0.6}})
    assert loose.status == "matched"
    assert baselines.check_baseline(report, path, update=True).status == "updated"
    assert baselines.check_baseline(report, path, rtol=0.0, atol=0.0).status == "matched"
    with pytest.raises(AssertionError, match="baseline drift"):
        data["classes"]["0"]["confidence"] = 0.0
        path.write_text(json.dumps(data))
        baselines.assert_baseline(report, path)


def test_baseline_compare_reports_classes_verdicts_and_missing_values(report):
    old = baselines.baseline_data(report)
    new = copy.deepcopy(old)
    new["classes"]["9"] = new["classes"].pop("2")
    new["classes"]["0"]["in_top_k"] = False
    new["classes"]["1"]["stats"]["entropy"] = None
    new["classes"]["1"]["stats"]["brand_new_stat"] = 1.0  # added by a newer amaxcheck: ignored
    diffs = baselines.compare(old, new)
    assert "classes [2] are in the baseline but not in this run" in diffs
    assert "classes [9] are in this run but not in the baseline" in diffs
    assert "class 0: verdict in_top_k True -> False" in diffs
    assert any(d.startswith("class 1: stat entropy") and "defined on one side only" in d for d in diffs)
    assert len(diffs) == 4
    with pytest.raises(ConfigError, match="unknown keys .*; use 'rtol' and/or 'atol'"):
        baselines.compare(old, old, tolerances={"entropy": {"tol": 1}})


@pytest.mark.parametrize("content, why", [
    ('{"amaxcheck_baseline": 1, "classes": {', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"amaxcheck_baseline": 99, "classes": {}}', "'amaxcheck_baseline' is 99"),
    ('{"amaxcheck_baseline": 1, "classes": {"0": {"label": "0"}}}', "'classes' must map"),
])
def test_corrupt_baseline_names_the_file_and_the_update_flag(report, tmp_path, content, why):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BaselineError) as info:
        baselines.check_baseline(report, path)
    assert f"baseline file {path} is corrupt" in str(info.value) and why in str(info.value)
    assert "--amax-update-baselines" in str(info.value)
    assert baselines.check_baseline(report, path, update=True).status == "updated"  # the flag repairs it
    baselines.load_baseline(path)


def test_baseline_writes_are_atomic(report, tmp_path, monkeypatch):
    """An interrupted write leaves the previous baseline intact and no temporary file behind."""
    path = tmp_path / "b.json"
    baselines.check_baseline(report, path)
    before = path.read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.fsync", interrupted)  # the bytes are written, then the run stops before the rename
    with pytest.raises(KeyboardInterrupt):
        baselines.check_baseline(report, path, update=True)
    monkeypatch.undo()
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["b.json"]


def test_amax_baseline_fixture_paths(amax_baseline, request):
    assert amax_baseline.folder == Path(request.node.path).parent / "amax_baselines" / "test_plugin_units"
    assert amax_baseline.path_for().name == "test_amax_baseline_fixture_paths.json"
    with pytest.raises(ConfigError, match="plain file name .*; pass e.g. basename='escape'"):
        amax_baseline.path_for("../escape")
