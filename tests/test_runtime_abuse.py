"""The runtime side of the abuse battery (issue 13, items 4, 6, 7, 8, 9), on real models and the real command.

* Ctrl-C during the ascent is exit 130, "amaxcheck: interrupted", no traceback, no file touched;
* a gate run leaves no ``__autograph_generated_file*`` files in the temp folder;
* a cut gradient names the operation that cuts it (``keras.ops.round``, ``argmax`` + ``one_hot``), not the next layer;
* NaN weights are named (layer/variable, how many) before any ascent;
* multi-output and multi-input models through ``--output``, ``--input`` and ``--fixed-inputs``
  (and ``[tool.amaxcheck]`` and the pytest marker).

Gate runs are small (``--steps 16 --restarts 1 --classes 0,1``); each subprocess costs about one TensorFlow import.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops

import amaxcheck
from amaxcheck import cli
from amaxcheck.errors import ConfigError, ModelError, NoGradientError
from amaxcheck.pyproject import parse_table

from .commands import amaxcheck_command

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "examples" / "digits" / "digits_cnn.keras")
FAST = ["--steps", "16", "--restarts", "1", "--classes", "0,1"]
API_FAST = {"steps": 16, "restarts": 1, "progress": False}


# --------------------------------------------------------------------------- the real command
def _env(tmpdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(tmpdir), **extra)
    return env


def gate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``amaxcheck gate ...`` with a fresh temp folder, which must hold no autograph file afterwards."""
    tmpdir = cwd / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    proc = subprocess.run([*amaxcheck_command(), "gate", *args], cwd=cwd, env=_env(tmpdir), capture_output=True, text=True,
                          timeout=300)
    assert not list(tmpdir.glob("__autograph_generated_file*")), proc.stderr
    return proc


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("amaxcheck: error: "), proc.stderr
    return lines[0]


def test_ctrl_c_during_the_ascent_is_exit_130_and_touches_nothing(tmp_path):
    """Waits for the "synthesizing" status line (AMAXCHECK_STATUS=1), then sends SIGINT: no timing involved."""
    report = tmp_path / "report.json"
    earlier = b'{"schema_version": 1, "earlier": "report", "gate": {}}\n'  # a previous gate report
    report.write_bytes(earlier)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    proc = subprocess.Popen([*amaxcheck_command(), "gate", DIGITS, "--steps", "20000", "--restarts", "1", "--classes", "0,1",
                             "--json", str(report)], cwd=tmp_path, env=_env(tmpdir, AMAXCHECK_STATUS="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if "synthesizing" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=300)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "amaxcheck: interrupted"
    assert "Traceback" not in err and "Error" not in err
    assert out == ""
    assert report.read_bytes() == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "tmpdir"]
    assert not list(tmpdir.glob("__autograph_generated_file*"))


def test_a_gate_run_leaves_no_autograph_files_in_the_temp_folder(tmp_path):
    proc = gate(DIGITS, *FAST, cwd=tmp_path)  # gate() asserts the temp folder holds no autograph file
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "tmpdir").iterdir()) == []


# --------------------------------------------------------------------------- the operation that cuts the gradient
def _rounding_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    x = layers.Flatten(name="flat")(ops.round(x))
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="head")(x))


def _argmax_one_hot_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = layers.Flatten(name="flat")(layers.Conv2D(2, 3, padding="same", name="conv")(inp))
    x = ops.one_hot(ops.argmax(x, axis=-1), 128)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="head")(x))


def test_keras_ops_round_is_named_not_the_next_layer():
    model = _rounding_model()
    with pytest.raises(NoGradientError, match=r'step whose output .* is "round" \(keras\.ops\.round\)') as info:
        amaxcheck.synthesize(model, [0], **API_FAST)
    assert '"head"' not in str(info.value) and '"flat"' not in str(info.value)


def test_argmax_then_one_hot_names_argmax():
    model = _argmax_one_hot_model()
    with pytest.raises(NoGradientError, match=r'no differentiable path.* is "argmax" \(keras\.ops\.argmax\)') as info:
        amaxcheck.synthesize(model, [0], **API_FAST)
    assert "one_hot" not in str(info.value).split("is ")[1].split(".")[0]


# --------------------------------------------------------------------------- NaN weights
def _nan_digits(path: Path | None = None) -> keras.Model:
    model = keras.saving.load_model(DIGITS)
    head = model.get_layer("probs")
    kernel = head.kernel.numpy()
    kernel[0, 0] = np.nan
    kernel[1, 2] = np.nan
    head.kernel.assign(kernel)
    if path is not None:
        model.save(path)
    return model


def test_nan_weights_are_named_with_the_fix():
    model = _nan_digits()
    with pytest.raises(ModelError, match=r"probs/kernel \(2 of \d+ values non-finite: 2 NaN, 0 Inf\).*retrain"):
        amaxcheck.synthesize(model, [0], **API_FAST)


def test_nan_weights_through_the_gate_are_one_line_exit_2(tmp_path):
    _nan_digits(tmp_path / "nan.keras")
    line = one_line_error(gate("nan.keras", *FAST, cwd=tmp_path))
    assert "NaN/Inf" in line and "probs/kernel" in line and "reload" in line
    assert "step 0" not in line and "learning_rate" not in line


# --------------------------------------------------------------------------- multi-output and multi-input models
def _two_output_model(path: Path) -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, padding="same", activation="relu")(inp))
    classes = layers.Dense(3, activation="softmax", name="classes")(x)
    aux = layers.Dense(2, name="aux")(x)
    keras.Model(inp, [aux, classes]).save(path)


def _two_input_model(path: Path) -> None:
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, padding="same", activation="relu")(image))
    x = layers.Concatenate()([x, meta])
    keras.Model([image, meta], layers.Dense(3, activation="softmax", name="classes")(x)).save(path)


def _gate_report(proc: subprocess.CompletedProcess, report: Path) -> dict:
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(report.read_text())
    assert [c["index"] for c in doc["classes"]] == [0, 1]
    return doc


def test_two_output_model_needs_and_takes_output(tmp_path):
    _two_output_model(tmp_path / "two_out.keras")
    line = one_line_error(gate("two_out.keras", *FAST, cwd=tmp_path))
    assert "2 outputs" in line and "--output NAME" in line
    proc = gate("two_out.keras", *FAST, "--output", "classes", "--json", "r.json", cwd=tmp_path)
    doc = _gate_report(proc, tmp_path / "r.json")
    assert doc["model"]["n_classes"] == 3 and doc["settings"]["output"] == "classes"


def test_two_input_model_needs_and_takes_input_and_fixed_inputs(tmp_path):
    _two_input_model(tmp_path / "two_in.keras")
    np.savez(tmp_path / "fixed.npz", meta=np.array([0.5, -1.0, 2.0], np.float32))
    line = one_line_error(gate("two_in.keras", *FAST, cwd=tmp_path))
    assert "2 inputs" in line and "--input NAME --fixed-inputs FILE.npz" in line
    proc = gate("two_in.keras", *FAST, "--input", "image", "--fixed-inputs", "fixed.npz", "--json", "r.json",
                cwd=tmp_path)
    doc = _gate_report(proc, tmp_path / "r.json")
    assert doc["settings"]["input"] == "image" and doc["model"]["input_shape"] == [8, 8, 1]


def test_fixed_inputs_file_problems_fail_before_tensorflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "objects.npz", meta=np.array([{"a": 1}], dtype=object))
    np.savez(tmp_path / "nan.npz", meta=np.array([np.nan, 0.0, 1.0]))
    (tmp_path / "text.npz").write_text("not an archive")
    for name, needle in (("missing.npz", "not found"), ("objects.npz", "pickled"), ("nan.npz", "NaN"),
                         ("text.npz", "not an .npz archive")):
        with pytest.raises(ConfigError, match=needle):
            cli.ascent_config({"restarts": 1, "steps": 1, "seed": 0, "input_range": (0.0, 1.0),
                               "fixed_inputs": name})


def test_output_and_input_values_become_the_config():
    config = cli.ascent_config({"restarts": 1, "steps": 1, "seed": 0, "input_range": (0.0, 1.0),
                                "model_output": "1", "input": "image"})
    assert config.output == 1 and config.input == "image"
    ns = cli.build_parser().parse_args(["show", "m.keras", "--class", "0", "-o", "x.png", "--model-output", "classes",
                                        "--input", "image", "--fixed-inputs", "f.npz"])
    assert (ns.output, ns.model_output, ns.input, ns.fixed_inputs) == ("x.png", "classes", "image", "f.npz")


def test_pyproject_keys(tmp_path):
    values, notes = parse_table({"output": "classes", "input": 0, "fixed-inputs": "data/fixed.npz"},
                                tmp_path / "pyproject.toml")
    assert notes == []
    assert values == {"model_output": "classes", "input": 0, "fixed_inputs": str(tmp_path / "data" / "fixed.npz")}
    with pytest.raises(ConfigError, match="output must be the model output's name or index"):
        parse_table({"output": True}, tmp_path / "pyproject.toml")


@pytest.fixture(scope="module")
def two_output_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("two_out") / "two_out.keras"
    _two_output_model(path)
    return keras.saving.load_model(path)


@pytest.mark.amaxcheck(output="classes", steps=16, restarts=1)
def test_the_marker_takes_output(amax, two_output_model):
    result = amax.synthesize(two_output_model, [0, 1])
    assert result.n_classes == 3 and result.settings["output"] == "classes"
