"""The gate and show commands end to end, in-process (``amaxcheck.cli.main([...])``), on real models.

The committed digits model plus small models built and saved here: a ``Lambda``
model (.keras and .h5), an exported SavedModel, a ``module:function`` factory.
Settings are small (``--steps 32 --restarts 1``, two classes) to keep the file fast.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from amaxcheck import cli

from .commands import isolate_gate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
DIGITS = str(EXAMPLE / "digits_cnn.keras")
LABELS = str(EXAMPLE / "labels.txt")
REFERENCE = str(EXAMPLE / "reference.npz")
FAST = ["--steps", "32", "--restarts", "1", "--classes", "0,3"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run from an empty folder with no pyproject.toml above it and never touch a real step summary."""
    isolate_gate(tmp_path, monkeypatch)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amaxcheck: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def strict_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))


# --------------------------------------------------------------------------- one full passing run, every output
@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The gate with --json, --junit-xml, --markdown, --artifacts and $GITHUB_STEP_SUMMARY set."""
    out = tmp_path_factory.mktemp("gate")
    summary = out / "step_summary.md"
    summary.write_text("# earlier step\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(out)
        mp.setenv("GITHUB_STEP_SUMMARY", str(summary))
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(["gate", DIGITS, "--labels", LABELS, "--reference", REFERENCE, *FAST,
                             "--json", "out/report.json", "--junit-xml", "out/junit.xml",
                             "--markdown", "out/summary.md", "--artifacts", "art"])
    return {"code": code, "out": out, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "summary": summary}


def test_pass_exit_code_and_table(full_run):
    assert full_run["code"] == 0, full_run["stderr"]
    lines = full_run["stdout"].splitlines()
    assert lines[0].split()[:7] == ["class", "label", "confidence", "in", "top-1", "degeneracy", "verdict"]
    assert len([line for line in lines if line.split()[-2:] == ["PASS", "-"]]) == 2
    assert lines[-1].startswith("amaxcheck gate PASSED: 0 of 2 classes failing")
    assert "Traceback" not in full_run["stderr"]


def test_json_document_contract(full_run):
    doc = strict_json(full_run["out"] / "out" / "report.json")
    assert doc["schema_version"] == 1 and doc["passed"] is True and doc["degenerate"] is False
    assert doc["verdict"] == "healthy" and doc["degeneracy"] == 0.0 and doc["strict"] is False
    assert 0.0 <= doc["naturalness"] <= 1.0
    assert {s["name"]: s["says"] for s in doc["signals"]} == {"weights": "learned", "reach": "learned",
                                                              "held_out_accuracy": "learned"}
    model = doc["model"]
    assert model["path"] == DIGITS and model["input_shape"] == [16, 16, 1] and model["n_classes"] == 10
    assert model["sha256"] == hashlib.sha256(Path(DIGITS).read_bytes()).hexdigest() and model["format"] == "keras"
    settings = doc["settings"]
    assert settings["seed"] == 0 and settings["steps"] == 32 and settings["restarts"] == 1
    assert settings["classes"] == [0, 3] and settings["reference"] == REFERENCE and settings["reference_size"] == len(np.load(REFERENCE)["x"])
    assert set(doc["versions"]) == {"amaxcheck", "tensorflow", "keras", "numpy", "skimage"}
    assert all(doc["versions"].values())
    assert [c["index"] for c in doc["classes"]] == [0, 3]
    for c in doc["classes"]:
        assert set(c) >= {"index", "label", "confidence", "top_k", "in_top_k", "degeneracy", "degenerate", "stats",
                          "checks", "image"}
        assert c["top_k"][0] == {"index": c["index"], "label": str(c["index"]), "p": c["top_k"][0]["p"]}
        assert {k["name"] for k in c["checks"]} >= {"confidence", "top_k", "degeneracy"}
        assert all(set(k) == {"name", "status", "value", "threshold", "message"} for k in c["checks"])
        assert Path(full_run["out"], c["image"]).is_file()


def test_junit_xml_parses_with_one_testcase_per_class_and_check(full_run):
    doc = strict_json(full_run["out"] / "out" / "report.json")
    root = ET.parse(full_run["out"] / "out" / "junit.xml").getroot()
    cases = root.findall("testsuite/testcase")
    assert len(cases) == sum(len(c["checks"]) for c in doc["classes"]) + 1  # + the model's verdict
    verdict = next(case for case in cases if case.get("classname") == "amaxcheck.digits_cnn.model")
    assert verdict.get("name") == "verdict" and verdict.find("failure") is None
    assert root.find("testsuite").get("failures") == "0" and not root.findall(".//failure")
    names = {(case.get("classname"), case.get("name")) for case in cases}
    assert ("amaxcheck.digits_cnn.class_003_3", "confidence") in names
    props = {p.get("name"): p.get("value") for p in cases[0].find("properties")}
    assert float(props["confidence"]) == pytest.approx(doc["classes"][0]["confidence"], rel=1e-5)
    assert "degeneracy" in props and any(k.startswith("stat.") for k in props)
    assert "[[ATTACHMENT|" in cases[0].find("system-out").text


def test_markdown_file_and_step_summary(full_run):
    md = (full_run["out"] / "out" / "summary.md").read_text()
    assert md.startswith("## ✅ amaxcheck gate PASSED")
    assert "| class | label | confidence | in top-1 | degeneracy | verdict | failing checks |" in md
    assert md.count("<details>") == 3
    step = full_run["summary"].read_text()
    assert step.startswith("# earlier step\n") and step.endswith(md)


def test_artifacts_folder(full_run):
    art = full_run["out"] / "art"
    names = {p.name for p in art.iterdir()}
    assert {"grid.png", "ideal_inputs.npz", "summary.json", "class_000_0.png", "class_003_3.png"} <= names
    assert strict_json(art / "summary.json") == strict_json(full_run["out"] / "out" / "report.json")
    assert not [n for n in names if n.endswith(".tmp")]


# --------------------------------------------------------------------------- fail, defaults, pyproject
def test_impossible_threshold_fails_with_exit_1(capsys, tmp_path):
    code, out, err = run(capsys, "gate", DIGITS, "--reference", REFERENCE, *FAST, "--max-degeneracy", "0",
                         "--json", "r.json", "--junit-xml", "r.xml")
    assert code == 1, err
    assert out.splitlines()[-1].startswith("amaxcheck gate FAILED: 2 of 2 classes failing")
    doc = strict_json(tmp_path / "r.json")
    assert doc["passed"] is False and doc["thresholds"]["max_degeneracy"] == 0.0
    failing = [k for c in doc["classes"] for k in c["checks"] if k["status"] == "fail"]
    root = ET.parse(tmp_path / "r.xml").getroot()
    assert root.get("failures") == str(len(failing)) and len(root.findall(".//failure")) == len(failing)
    assert all(f.get("message") for f in root.iter("failure"))


def test_inconclusive_passes_with_a_warning_and_fails_under_strict(capsys, tmp_path):
    code, out, err = run(capsys, "gate", DIGITS, *FAST, "--json", "r.json")
    assert code == 0 and "verdict INCONCLUSIVE (fails with --strict)" in out.splitlines()[-1]
    assert "amaxcheck: warning: the verdict is inconclusive" in err and "--reference" in err
    assert strict_json(tmp_path / "r.json")["verdict"] == "inconclusive"
    code, out, err = run(capsys, "gate", DIGITS, *FAST, "--strict", "--json", "s.json")
    doc = strict_json(tmp_path / "s.json")
    assert code == 1 and out.splitlines()[-1].startswith("amaxcheck gate FAILED: 0 of 2 classes failing")
    assert doc["passed"] is False and doc["strict"] is True and doc["degenerate"] is False


def test_min_naturalness_fails_classes_below_it(capsys, tmp_path):
    code, out, err = run(capsys, "gate", DIGITS, "--reference", REFERENCE, *FAST, "--min-naturalness", "1",
                         "--json", "r.json")
    doc = strict_json(tmp_path / "r.json")
    assert code == 1 and doc["thresholds"]["min_naturalness"] == 1.0
    for c in doc["classes"]:
        check = next(k for k in c["checks"] if k["name"] == "naturalness")
        assert check["status"] == "fail" and check["value"] == pytest.approx(c["naturalness"])
    code, out, err = run(capsys, "gate", DIGITS, *FAST, "--min-naturalness", "1.5")
    assert code == 2
    assert_one_line_error(err, "--min-naturalness")


def test_quiet_prints_only_the_verdict(capsys):
    code, out, err = run(capsys, "gate", DIGITS, "--reference", REFERENCE, *FAST, "--quiet")
    assert code == 0 and out.strip().splitlines() == [out.strip()] and out.startswith("amaxcheck gate PASSED")
    assert err == ""


def test_pyproject_defaults_nearest_file_and_flags_win(capsys, tmp_path, monkeypatch):
    (tmp_path / "labels.txt").write_text(Path(LABELS).read_text())
    (tmp_path / "pyproject.toml").write_text(
        "[tool.amaxcheck]\n"
        f'model = "{DIGITS}"\nlabels = "labels.txt"\nreference = "{REFERENCE}"\n'
        'classes = ["1"]\nsteps = 16\nrestarts = 1\nseed = 3\njson = "reports/gate.json"\n')
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    code, out, err = run(capsys, "gate")
    assert code in (0, 1), err
    doc = strict_json(tmp_path / "reports" / "gate.json")  # relative to the pyproject's folder, not the cwd
    s = doc["settings"]
    assert (s["steps"], s["restarts"], s["seed"], s["classes"]) == (16, 1, 3, [1])
    assert s["labels"] == str(tmp_path / "labels.txt") and s["config"] == str(tmp_path / "pyproject.toml")
    code, _, err = run(capsys, "gate", "--steps", "24", "--json", "flag.json")
    assert code in (0, 1), err
    assert strict_json(tmp_path / "sub" / "flag.json")["settings"]["steps"] == 24


def test_pyproject_strict_and_min_naturalness(capsys, tmp_path):
    (tmp_path / "pyproject.toml").write_text(f'[tool.amaxcheck]\nmodel = "{DIGITS}"\nstrict = true\n'
                                             'min-naturalness = 0.0\nclasses = [0]\nsteps = 16\nrestarts = 1\n')
    code, out, err = run(capsys, "gate", "--json", "r.json")
    assert code == 1 and strict_json(tmp_path / "r.json")["strict"] is True  # no reference: inconclusive, strict
    (tmp_path / "pyproject.toml").write_text(f'[tool.amaxcheck]\nmodel = "{DIGITS}"\nstrict = "yes"\n')
    code, out, err = run(capsys, "gate")
    assert code == 2
    assert_one_line_error(err, "strict must be true or false", "'yes'")


# --------------------------------------------------------------------------- bad inputs that need the model
def test_labels_of_wrong_length(capsys, tmp_path):
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    code, out, err = run(capsys, "gate", DIGITS, "--labels", "three.txt")
    assert code == 2 and out == ""
    assert_one_line_error(err, "3 names", "10 classes")


def test_reference_of_wrong_shape(capsys, tmp_path):
    np.savez(tmp_path / "small.npz", x=np.zeros((5, 8, 8, 1), np.float32), y=np.zeros(5, np.int64))
    code, _, err = run(capsys, "gate", DIGITS, "--reference", "small.npz")
    assert code == 2
    assert_one_line_error(err, "small.npz", "(5, 8, 8, 1)", "(16, 16, 1)")


def test_reference_out_of_range(capsys, tmp_path):
    x = np.load(REFERENCE)["x"] * 255.0
    np.savez(tmp_path / "raw.npz", x=x)
    code, _, err = run(capsys, "gate", DIGITS, "--reference", "raw.npz")
    assert code == 2
    assert_one_line_error(err, "input_range")


def test_class_out_of_range(capsys):
    code, _, err = run(capsys, "gate", DIGITS, "--classes", "99")
    assert code == 2
    assert_one_line_error(err, "class index 99 is out of range", "10 classes")


def test_unknown_label(capsys):
    code, _, err = run(capsys, "gate", DIGITS, "--labels", LABELS, "--classes", "seven")
    assert code == 2
    assert_one_line_error(err, "unknown label 'seven'")


def test_top_k_larger_than_the_model(capsys):
    code, _, err = run(capsys, "gate", DIGITS, "--top-k", "11")
    assert code == 2
    assert_one_line_error(err, "--top-k 11", "10 classes")


# --------------------------------------------------------------------------- model formats
def _tiny_model(with_lambda: bool):
    import keras

    keras.utils.set_random_seed(0)  # untrained: a seed keeps its ReLUs (and the test) reproducible
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp) if with_lambda else inp
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_model_refused_without_unsafe(capsys, tmp_path, suffix):
    path = tmp_path / f"lambda{suffix}"
    _tiny_model(with_lambda=True).save(path)
    code, _, err = run(capsys, "gate", path.name)
    assert code == 2
    assert_one_line_error(err, "Lambda layer", "--unsafe")
    if suffix == ".keras":  # the flag lets it through (one format is enough to pay a run for)
        code, _, err = run(capsys, "gate", path.name, "--unsafe", "--steps", "16", "--restarts", "1", "--classes", "0")
        assert code in (0, 1), err


def test_savedmodel_needs_unsafe_and_then_runs(capsys, tmp_path):
    _tiny_model(with_lambda=False).export(str(tmp_path / "exported"), verbose=False)
    code, _, err = run(capsys, "gate", "exported")
    assert code == 2
    assert_one_line_error(err, "SavedModel", "--unsafe")
    code, _, err = run(capsys, "gate", "exported", "--unsafe", "--steps", "16", "--restarts", "1", "--classes", "0,1",
                       "--json", "sm.json")
    assert code in (0, 1), err
    doc = strict_json(tmp_path / "sm.json")
    assert doc["model"]["format"] == "savedmodel" and doc["model"]["input_shape"] == [8, 8, 1]
    assert doc["model"]["n_classes"] == 3 and len(doc["model"]["sha256"]) == 64


def test_module_function_factory(capsys, tmp_path):
    module = tmp_path / "amax_factory_mod.py"
    module.write_text("import keras\n\n"
                      f"def build():\n    return keras.saving.load_model({DIGITS!r})\n\n"
                      "def broken():\n    raise RuntimeError('no weights here')\n\n"
                      "def not_a_model():\n    return 42\n")
    code, _, err = run(capsys, "gate", "amax_factory_mod:build", "--steps", "16", "--restarts", "1", "--classes", "1",
                       "--json", "f.json")
    assert code in (0, 1), err
    doc = strict_json(tmp_path / "f.json")
    assert doc["model"]["format"] == "function"
    assert doc["model"]["sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()
    code, _, err = run(capsys, "gate", "amax_factory_mod:broken")
    assert code == 2
    assert_one_line_error(err, "amax_factory_mod:broken() raised RuntimeError", "no weights here")
    code, _, err = run(capsys, "gate", "amax_factory_mod:not_a_model")
    assert code == 2
    assert_one_line_error(err, "not a keras.Model")
    code, _, err = run(capsys, "gate", "no_such_module_xyz:build")
    assert code == 2
    assert_one_line_error(err, "cannot import module 'no_such_module_xyz'")


def test_reference_folder_of_images(capsys, tmp_path):
    from PIL import Image

    data = np.load(REFERENCE)
    for cls in (0, 3):
        folder = tmp_path / "ref" / str(cls)
        folder.mkdir(parents=True)
        for i, img in enumerate(data["x"][data["y"] == cls][:5]):
            Image.fromarray(np.round(img[..., 0] * 255).astype(np.uint8)).save(folder / f"{i}.png")
    code, _, err = run(capsys, "gate", DIGITS, "--labels", LABELS, "--reference", "ref", *FAST, "--json", "r.json")
    assert code in (0, 1), err
    assert strict_json(tmp_path / "r.json")["settings"]["reference_size"] == 10
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ref" / "0" / "small.png")
    code, _, err = run(capsys, "gate", DIGITS, "--labels", LABELS, "--reference", "ref", *FAST)
    assert code == 2
    assert_one_line_error(err, "small.png", "(8, 8, 1)", "resize")


# --------------------------------------------------------------------------- show
def test_show_writes_png_and_gif(capsys, tmp_path):
    from PIL import Image

    code, out, err = run(capsys, "show", DIGITS, "--labels", LABELS, "--class", "7", "-o", "seven.png",
                         "--steps", "32", "--restarts", "2", "--gif")
    assert code == 0, err
    assert out.startswith("class 7 (7): p=") and "seven.gif" in out
    png = Image.open(tmp_path / "seven.png")
    assert png.size == (256, 256)
    gif = Image.open(tmp_path / "seven.gif")
    assert gif.n_frames == 7  # step 0, then 1, 2, 4, 8, 16, 32
    gif.seek(gif.n_frames - 1)
    last = np.asarray(gif.convert("L"))[:256]
    assert np.array_equal(last, np.asarray(png.convert("L")))  # the last frame is the saved image


def test_show_rejects_several_classes(capsys):
    code, _, err = run(capsys, "show", DIGITS, "--class", "1,2", "-o", "x.png")
    assert code == 2
    assert_one_line_error(err, "--class takes one class")


def test_load_model_h5_and_unzipped_keras_folder(tmp_path):
    import zipfile

    from amaxcheck.loading import load_model

    model = _tiny_model(with_lambda=False)
    model.save(tmp_path / "tiny.h5")
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(load_model(tmp_path / "tiny.h5")(x), model(x), rtol=1e-5)
    with zipfile.ZipFile(DIGITS) as archive:
        archive.extractall(tmp_path / "unzipped")
    assert load_model(tmp_path / "unzipped").count_params() == load_model(DIGITS).count_params()
