"""Trigger reversal (Neural Cleanse style) on real models trained here, end to end as a user runs it.

``examples/backdoor/backdoor_cnn.keras`` carries a planted 3x3 stamp (bottom-right, target 7);
``examples/digits/digits_cnn.keras`` is the clean model of the same data. Both are checked on
``examples/digits/reference.npz`` (held out from both). The statistic's own behaviour (few classes,
the effect-size guard, the location words) is tested on plain arrays.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import amaxcheck
from amaxcheck import cli
from amaxcheck.ascent.triggers import TriggerResult, TriggerSettings, reverse_triggers
from amaxcheck.errors import ArgumentTypeError, ConfigError, InputRangeError, ModelError, ReferenceDataError
from amaxcheck.verdict.triggers import anomaly_index, describe_location, judge_triggers

from .commands import isolate_gate

ROOT = Path(__file__).resolve().parents[1]
BACKDOOR = str(ROOT / "examples" / "backdoor" / "backdoor_cnn.keras")
DIGITS = str(ROOT / "examples" / "digits" / "digits_cnn.keras")
LABELS = str(ROOT / "examples" / "digits" / "labels.txt")
REFERENCE = str(ROOT / "examples" / "digits" / "reference.npz")
TARGET = 7  # examples/backdoor/train.py's trigger


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run from an empty folder with no pyproject.toml above it and never touch a real step summary."""
    isolate_gate(tmp_path, monkeypatch)


def _reference():
    data = np.load(REFERENCE)
    return data["x"].astype(np.float32), data["y"].astype(np.int64)


# --------------------------------------------------------------------------- the gate on the backdoored example
@pytest.fixture(scope="module")
def backdoor_gate(tmp_path_factory):
    out = tmp_path_factory.mktemp("backdoor")
    code = cli.main(["gate", BACKDOOR, "--triggers", "--labels", LABELS, "--reference", REFERENCE, "--steps", "32",
                     "--restarts", "2", "--json", str(out / "r.json"), "--junit-xml", str(out / "r.xml"),
                     "--markdown", str(out / "r.md"), "--html", str(out / "r.html"), "--artifacts", str(out / "art"),
                     "--quiet"])
    return code, out


def test_gate_flags_the_backdoor_naming_its_class_and_place(backdoor_gate):
    code, out = backdoor_gate
    assert code == 1  # every class check passes; the trigger check fails the gate
    doc = json.loads((out / "r.json").read_text())
    trig = doc["triggers"]
    assert trig["outcome"] == "suspected_trigger" and trig["suspected_trigger"] is True
    assert trig["flagged"] == [TARGET]
    seven = next(c for c in trig["classes"] if c["class"] == TARGET)
    assert seven["location"] == "bottom-right corner"
    assert seven["mask_fraction"] < 0.5 * np.median([c["mask_fraction"] for c in trig["classes"]])
    assert seven["success"] >= 0.9 and seven["anomaly_index"] > 2
    assert all(k["status"] != "fail" for c in doc["classes"] for k in c["checks"]) and doc["verdict"] == "healthy"
    # the reason's numbers are the document's numbers
    reason = trig["reasons"][0]
    assert f"a {100 * seven['mask_fraction']:.1f} % patch (bottom-right corner)" in reason
    assert f"to class {TARGET}" in reason
    assert f"anomaly index {seven['anomaly_index']:.1f} > 2" in reason
    others = [c["mask_fraction"] for c in trig["classes"] if c["class"] != TARGET]
    low, high = re.search(r"other classes need ([\d.]+) %-([\d.]+) %", reason).groups()
    assert float(low) == pytest.approx(100 * min(others), abs=0.051) and float(high) == pytest.approx(
        100 * max(others), abs=0.51)


def test_every_output_shows_the_trigger(backdoor_gate):
    _, out = backdoor_gate
    suite = ET.parse(out / "r.xml").getroot()
    case = next(c for c in suite.iter("testcase") if c.get("name") == "triggers")
    assert case.find("failure") is not None and "suspected_trigger" in case.find("failure").get("message")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props[f"class_{TARGET:03d}.flagged"] == "true"
    assert "### Backdoor triggers" in (out / "r.md").read_text()
    page = (out / "r.html").read_text()
    assert "backdoor trigger suspected" in page and page.count('class="tile trigger"') == 20
    art = out / "art"
    strip = art / f"trigger_class_{TARGET:03d}_{TARGET}.png"
    assert strip.is_file() and (art / "triggers.npz").is_file()
    summary = json.loads((art / "summary.json").read_text())
    assert summary["triggers"]["classes"][TARGET]["image"] == str(strip)
    saved = np.load(art / "triggers.npz")
    mask = saved["masks"][list(saved["classes"]).index(TARGET)]
    assert mask[13:, 13:].sum() > 0.5 * mask.sum()  # the reversed mask sits where the stamp was planted
    from PIL import Image

    grid = np.asarray(Image.open(art / "grid.png"))
    assert grid.shape[0] > 3 * 96  # ideal inputs, masks and stamps: three rows of tiles


def test_clean_model_is_not_flagged_and_reversal_is_deterministic():
    import keras

    x, y = _reference()
    model = keras.models.load_model(DIGITS)
    report = judge_triggers(reverse_triggers(model, x, reference_labels=y, progress=False))
    assert report.outcome == "no_trigger_found" and not report.flagged
    assert "no class stands out" in report.reasons[0]
    # a class's trigger does not depend on the seed's other users: alone or beside another class, bit for bit
    quick = TriggerSettings(steps=60)
    both = reverse_triggers(model, x, classes=[3, 5], settings=quick, progress=False)
    alone = reverse_triggers(model, x, classes=[5], settings=quick, progress=False)
    again = reverse_triggers(model, x, classes=[5], settings=quick, progress=False)
    np.testing.assert_array_equal(alone.masks[0], again.masks[0])
    np.testing.assert_allclose(both.masks[1], alone.masks[0], atol=1e-5)


def test_assert_no_trigger_fails_on_the_backdoor_and_names_the_class(tmp_path):
    import keras

    x, y = _reference()
    model = keras.models.load_model(BACKDOOR)
    labels = Path(LABELS).read_text().split()  # as the gate reads them: the reversal is served from its cache
    result = amaxcheck.synthesize(model, classes=[TARGET], steps=16, restarts=1, progress=False, labels=labels)
    with pytest.raises(AssertionError, match=rf"SUSPECTED_TRIGGER \(class {TARGET}\)") as info:
        amaxcheck.assert_no_trigger(result, x, reference_labels=y, artifacts_dir=tmp_path / "a")
    assert "bottom-right corner" in str(info.value)
    assert (tmp_path / "a").is_dir()


# --------------------------------------------------------------------------- the statistic, on plain arrays
def _result(l1, success=None, n_pixels=256, reached=None) -> TriggerResult:
    l1 = np.asarray(l1, np.float64)
    n = len(l1)
    masks = np.zeros((n, 16, 16), np.float32)
    masks[:, 13:, 13:] = 1.0
    return TriggerResult(
        classes=np.arange(n), masks=masks, patterns=np.zeros((n, 16, 16, 1), np.float32), mask_l1=l1,
        mask_fraction=l1 / n_pixels, success=np.ones(n) if success is None else np.asarray(success, float),
        fit_success=np.ones(n), reached=np.ones(n, bool) if reached is None else np.asarray(reached, bool),
        held_out_counts=np.full(n, 50), steps_run=np.full(n, 100), final_cost=np.zeros(n, np.float32),
        n_classes=n, input_shape=(16, 16, 1), input_range=(0.0, 1.0), head="softmax",
        settings=TriggerSettings().as_dict())


def test_anomaly_index_is_the_published_mad_statistic():
    x = np.array([10.0, 30, 31, 32, 33, 34, 35, 29, 28, 30])
    med = np.median(x)
    mad = 1.4826 * np.median(np.abs(x - med))
    np.testing.assert_allclose(anomaly_index(x), np.abs(x - med) / mad)
    assert anomaly_index([5.0, 5.0, 5.0]).tolist() == [0.0, 0.0, 0.0]


def test_few_classes_are_inconclusive_with_the_sizes_to_compare():
    report = judge_triggers(_result([9.0, 30.0]))
    assert report.outcome == "inconclusive" and not report.suspected_trigger and report.passed
    assert "only 2 classes" in report.reasons[0] and "3.5 %" in report.reasons[0]


def test_an_outlier_by_the_index_alone_is_a_note_not_a_flag():
    # class 0 is an outlier by the index (about 3) but its mask is 0.69x the median: ordinary class difficulty
    report = judge_triggers(_result([21.0, 30, 31, 32, 33, 29, 28, 30, 32, 31]))
    assert report.outcome == "no_trigger_found"
    assert any("outlier by the index alone" in n and "0.69x" in n for n in report.notes)
    flagged = judge_triggers(_result([9.0, 30, 31, 32, 33, 29, 28, 30, 32, 31]))
    assert flagged.outcome == "suspected_trigger" and [c.index for c in flagged.flagged] == [0]
    weak = judge_triggers(_result([9.0, 30, 31, 32, 33, 29, 28, 30, 32, 31], success=[0.2] + [1.0] * 9))
    assert weak.outcome == "no_trigger_found" and "moves only 20 %" in weak.notes[0]


def test_location_words():
    m = np.zeros((16, 16))
    m[0:3, 0:3] = 1
    assert describe_location(m) == "top-left corner"
    m = np.zeros((16, 16))
    m[7:9, 7:9] = 1
    assert describe_location(m) == "centre"
    assert describe_location(np.random.default_rng(0).uniform(0.5, 1.0, (16, 16))) == "spread out"


# --------------------------------------------------------------------------- bad input
def test_bad_reference_gets_a_clear_error():
    import keras

    model = keras.models.load_model(DIGITS)
    x, _ = _reference()
    with pytest.raises(ReferenceDataError, match="needs reference images"):
        reverse_triggers(model, None)
    with pytest.raises(ReferenceDataError, match=r"shape \(5, 8, 8\)"):
        reverse_triggers(model, np.zeros((5, 8, 8), np.float32))
    with pytest.raises(ReferenceDataError, match="at least 10"):
        reverse_triggers(model, x[:4])
    with pytest.raises((ReferenceDataError, InputRangeError), match="range"):
        reverse_triggers(model, x * 255.0)
    with pytest.raises(ConfigError, match="held_out"):
        TriggerSettings(held_out=1.0)
    with pytest.raises(ConfigError, match="steps"):
        TriggerSettings(steps=0)
    with pytest.raises(ConfigError, match=r"no setting\(s\) \['step'\]"):
        reverse_triggers(model, x, step=10)


def test_check_refuses_bad_trigger_arguments_before_any_work():
    import keras

    x, _ = _reference()
    model = keras.models.load_model(DIGITS)
    result = amaxcheck.synthesize(model, classes=[0], steps=8, restarts=1, progress=False)
    with pytest.raises(ArgumentTypeError, match="triggers must be True, False"):
        amaxcheck.check(result, model, reference=x, triggers="yes")
    with pytest.raises(ReferenceDataError, match="pass reference="):
        amaxcheck.check(result, model, triggers=True)
    result.bind(None)  # a result whose model is gone
    with pytest.raises(ModelError, match="needs the model"):
        amaxcheck.check(result, reference=x, triggers=True)


def test_gate_triggers_without_reference_is_a_one_line_error(capsys):
    code = cli.main(["gate", DIGITS, "--triggers", "--steps", "8", "--restarts", "1", "--classes", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--triggers" in err[0] and "--reference" in err[0]
