"""Per-stage timings, ``gate --shard K/N`` and ``amaxcheck merge``, in-process on the bundled digits model.

One module fixture runs the gate once whole and once in three shards (``--steps 32 --restarts 2``), then
merges the parts; the tests read those files. The error cases are cheap (no ascent, most without TensorFlow).
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from amaxcheck import cli, loading
from amaxcheck import pyproject as config
from amaxcheck.timings import STAGES, Timings, line

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
GATE = ["gate", str(EXAMPLE / "digits_cnn.keras"), "--labels", str(EXAMPLE / "labels.txt"),
        "--reference", str(EXAMPLE / "reference.npz"), "--steps", "32", "--restarts", "2"]


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A whole run, three shards (the first given to merge as its artifacts folder) and their merge."""
    out = tmp_path_factory.mktemp("shard")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(out)
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.setattr(config, "find_pyproject", lambda start=None: None)
        loaded: dict = {}  # the four gates load the model once (one trace), as separate machines would each once
        load = loading.load_model
        mp.setattr(loading, "load_model", lambda path, **kw: loaded.get(str(path)) or loaded.setdefault(
            str(path), load(path, **kw)))
        single = _main(GATE + ["--json", "single.json", "--artifacts", "single_art", "--html", "single.html"])
        shards = [_main(GATE + ["--shard", f"{k}/3", "--json", f"p{k}.json", "--artifacts", f"art{k}",
                                "--html", f"art{k}/shard.html", "--quiet"]) for k in (1, 2, 3)]
        merged = _main(["merge", "art1", "p2.json", "p3.json", "--json", "m.json", "--artifacts", "m_art",
                        "--html", "m.html", "--markdown", "m.md", "--junit-xml", "m.xml"])
    return {"out": out, "single": single, "shards": shards, "merged": merged}


def _close(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats to float32 precision (a shard ascends its classes in a smaller batch: see the README)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, a, b)
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (where, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), (where, a, b)
    else:
        assert a == b, (where, a, b)


# --------------------------------------------------------------------------- timings
def test_timings_stages_are_exclusive_and_runs_do_not_share_them():
    now = [0.0]
    t = Timings(started=0.0, clock=lambda: now[0])
    with t.stage("checks"):
        now[0] += 1.0
        with t.stage("controls"):
            now[0] += 2.0
            assert t.as_dict()["controls"] == 2.0 and t.as_dict()["checks"] == 1.0  # open stages count so far
    with t.stage("synthesis"):
        now[0] += 5.0
        t.carve("trace", 2.0)
    seconds = t.as_dict()
    assert list(seconds) == [*STAGES, "total"]
    assert (seconds["checks"], seconds["controls"], seconds["synthesis"], seconds["trace"]) == (1.0, 2.0, 3.0, 2.0)
    assert sum(v for k, v in seconds.items() if k != "total") == seconds["total"] == 8.0
    assert Timings().seconds == {}  # a new run starts from nothing
    assert line(seconds).startswith("time: load 0.0 s, trace 2.0 s, synthesis 3.0 s, controls 2.0 s, checks 1.0 s")


def test_gate_reports_where_the_time_goes(runs):
    code, _, err = runs["single"]
    assert code == 0, err
    doc = json.loads((runs["out"] / "single.json").read_text())
    timings = doc["timings"]
    assert list(timings) == [*STAGES, "total"]
    assert all(isinstance(v, float) and v >= 0 for v in timings.values()), timings
    assert sum(v for k, v in timings.items() if k != "total") <= timings["total"] + 0.01, timings
    assert timings["synthesis"] + timings["trace"] > 0 and doc["gate"]["wall_time_s"] > 0
    assert json.loads((runs["out"] / "single_art" / "summary.json").read_text())["timings"] == timings
    assert any(ln.startswith("amaxcheck: time: load ") and ", outputs " in ln for ln in err.splitlines()), err


def test_a_one_chunk_ascent_gets_its_regular_part_back_from_the_next_call(digits_model_path):
    import keras

    import amaxcheck

    model = keras.saving.load_model(digits_model_path)  # a fresh model: its engine traces here
    t = Timings()
    with t.stage("synthesis"):
        amaxcheck.synthesize(model, [0], steps=16, restarts=2, progress=False, timings=t)  # one 16-step chunk
    whole, rest = t.seconds["trace"], t.seconds["synthesis"]
    amaxcheck.synthesize(model, [1], steps=16, restarts=2, progress=False)  # another run's call of that length
    assert 0 < t.seconds["trace"] < whole and t.seconds["synthesis"] > rest
    assert math.isclose(t.seconds["trace"] + t.seconds["synthesis"], whole + rest)


# --------------------------------------------------------------------------- shards and merge
def test_three_shards_merged_equal_the_single_run(runs):
    out = runs["out"]
    assert [code for code, _, _ in runs["shards"]] == [0, 0, 0], runs["shards"]
    parts = [json.loads((out / f"p{k}.json").read_text()) for k in (1, 2, 3)]
    assert [p["shard"]["classes"] for p in parts] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert all(p["shard"]["partial"] and p["shard"]["all_classes"] == list(range(10)) for p in parts)
    code, stdout, err = runs["merged"]
    assert code == 0, err
    single, merged = (json.loads((out / name).read_text()) for name in ("single.json", "m.json"))
    for c in single["classes"] + merged["classes"]:
        c.pop("image")
    _close(single["classes"], merged["classes"], "classes")
    for key in ("verdict", "reasons", "degenerate", "degeneracy", "passed", "strict", "thresholds", "controls",
                "model", "versions", "schema_version"):
        assert single[key] == merged[key], key
    _close(single["signals"], merged["signals"], "signals")
    _close(single["naturalness"], merged["naturalness"], "naturalness")
    _close({k: v for k, v in single["settings"].items()}, merged["settings"], "settings")
    assert merged["merged"] == {"shards": 3, "parts": ["art1", "p2.json", "p3.json"]}
    assert [p["shard"] for p in merged["gate"]["parts"]] == ["1/3", "2/3", "3/3"]
    assert stdout.splitlines()[-1] == "amaxcheck gate PASSED: 0 of 10 classes failing; model verdict HEALTHY, " \
                                      f"naturalness {merged['naturalness']:.2f}"
    # artifacts: every class's files, the grid drawn with the same pixels, the arrays in class order
    from PIL import Image

    names = {p.name for p in (out / "m_art").iterdir()}
    assert names == {p.name for p in (out / "single_art").iterdir()}
    assert (out / "art1" / "shard.html").is_file()  # a shard's page may live in its artifacts folder (examples/ci)
    assert np.array_equal(np.asarray(Image.open(out / "m_art" / "grid.png")),
                          np.asarray(Image.open(out / "single_art" / "grid.png")))
    a, b = np.load(out / "single_art" / "ideal_inputs.npz"), np.load(out / "m_art" / "ideal_inputs.npz")
    assert np.array_equal(a["classes"], b["classes"]) and np.array_equal(a["restarts"], b["restarts"])
    np.testing.assert_allclose(a["images"], b["images"], atol=1e-5)
    assert json.loads((out / "m_art" / "summary.json").read_text())["classes"][3]["image"] == str(
        Path("m_art") / "class_003_3.png")
    page = (out / "m.html").read_text()
    assert page.count('<section class="class') == 10 and page.count("data:image/png") == \
        (out / "single.html").read_text().count("data:image/png")
    assert (out / "m.xml").read_text().count("<testcase") == (out / "single.json").read_text().count('"status"') + 1
    assert (out / "m.md").read_text().startswith("## ✅ amaxcheck gate PASSED: 0 of 10 classes failing")


@pytest.mark.parametrize("value", ["0/3", "4/3", "2", "a/b", "1/0"])
def test_a_bad_shard_is_a_usage_error(value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(GATE + ["--shard", value])
    assert code == 2 and err.strip() == (f"amaxcheck: error: --shard must be K/N with 1 <= K <= N (shard K of N, "
                                         f"counted from 1, as in pytest-split), like --shard 2/3, got {value!r}")


def test_a_shard_without_classes_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(GATE + ["--classes", "0,1", "--shard", "3/3"])
    assert code == 2 and "--shard 3/3 selects no class: only 2 classes are checked" in err, err


def _edited(runs, tmp_path: Path, k: int, edit) -> Path:
    doc = json.loads((runs["out"] / f"p{k}.json").read_text())
    edit(doc)
    path = tmp_path / f"edited{k}.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("case, needle", [
    ("missing", "merge is missing shard 3/3 (got 1/3, 2/3)"),
    ("twice", "are both shard 2/3"),
    ("model", "come from different models"),
    ("settings", "come from runs with different settings"),
    ("controls", "come from runs whose learned-nothing controls differ"),
    ("whole", "is a complete gate report, not a shard's part"),
    ("not json", "is not a JSON gate document"),
    ("html", "merge --html: part"),
    ("artifacts", "merge --artifacts: no class_001_1.png and class_001_1.npz for part"),
])
def test_merge_refuses_parts_that_are_not_one_run(runs, tmp_path, monkeypatch, case, needle):
    out = runs["out"]
    monkeypatch.chdir(tmp_path)
    p1, p2, p3 = (str(out / f"p{k}.json") for k in (1, 2, 3))
    extra: list[str] = []
    if case == "missing":
        parts = [p1, p2]
    elif case == "twice":
        parts = [p1, p2, p2, p3]
    elif case == "model":
        parts = [p1, str(_edited(runs, tmp_path, 2, lambda d: d["model"].update(fingerprint="0" * 16))), p3]
    elif case == "settings":
        parts = [p1, str(_edited(runs, tmp_path, 2, lambda d: d["settings"].update(steps=64))), p3]
    elif case == "controls":
        parts = [p1, str(_edited(runs, tmp_path, 2, lambda d: d["shard"].update(
            control_reach=[[2 * v for v in row] for row in d["shard"]["control_reach"]]))), p3]
    elif case == "whole":
        parts = [p1, p2, p3, str(out / "single.json")]
    elif case == "not json":
        (tmp_path / "x.json").write_text("nope")
        parts = [p1, p2, str(tmp_path / "x.json")]
    elif case == "html":
        parts, extra = [p1, str(_edited(runs, tmp_path, 2, lambda d: d["shard"].update(figures=None))), p3], \
            ["--html", "m.html"]
    else:  # the part's JSON away from its artifacts folder, recorded relative to another working folder
        shutil.copy(out / "p2.json", tmp_path / "p2.json")
        parts, extra = [p1, str(tmp_path / "p2.json"), p3], ["--artifacts", "merged"]
    code, stdout, err = _main(["merge", *parts, *extra, "--json", "m.json"])
    assert code == 2 and stdout == "" and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m.json").exists()


def test_merge_takes_controls_that_differ_only_by_rounding(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nudged = _edited(runs, tmp_path, 2, lambda d: d["shard"].update(
        control_reach=[[v * (1 + 1e-6) for v in row] for row in d["shard"]["control_reach"]]))
    code, _, err = _main(["merge", str(runs["out"] / "p1.json"), str(nudged), str(runs["out"] / "p3.json"),
                          "--json", "m.json", "--quiet"])
    assert code == 0, err
    assert json.loads((tmp_path / "m.json").read_text())["verdict"] == "healthy"


def test_merge_refuses_to_write_over_a_part(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(runs["out"])
    code, _, err = _main(["merge", "p1.json", "p2.json", "p3.json", "--json", "p3.json"])
    assert code == 2 and "--json 'p3.json' is the PART file 'p3.json'" in err, err
