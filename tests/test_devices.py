"""``devices`` / ``--devices``: the ascent's batch spread over several devices gives the one-device results.

The CPU split into two logical devices stands in for two accelerators. Logical
devices must be set before TensorFlow initializes its devices, so that check
runs in a fresh process (tests/devices_check.py); the errors and the one-device
case run here.

The two-replica run is compared with a tolerance, not bit for bit: each replica
runs a smaller batch (5 and 4 of 9 samples), and CPU kernels (oneDNN/Eigen) block
and vectorize by batch size, so one sample's forward differs in the last bits of
float32 with the batch it is in -- measured 6e-8 to 8e-7 on this model's forward
alone on one device, the same as changing ``max_batch`` (tests/test_engine.py
allows 1e-5 for that). The two-replica run differs from the one-device run by
at most 4e-7 in the images here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import amaxcheck
from amaxcheck import _cache, cli
from amaxcheck import pyproject as project
from amaxcheck.ascent.config import AscentConfig
from amaxcheck.ascent.engine import engine_for
from amaxcheck.errors import AmaxcheckError, ConfigError

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "examples" / "digits" / "digits_cnn.keras")
#: one-device vs two-replica results; see the module docstring for why not 0
ATOL = 1e-5


def test_two_logical_cpu_devices_give_the_one_device_results_and_gate(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    out = tmp_path / "summary.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "devices_check.py"), str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = json.loads(out.read_text())
    assert s["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert s["replicas"] == ["/device:CPU:0", "/device:CPU:1"]  # "all" took both logical CPU devices
    assert all(s["same"].values()), s["same"]  # same samples, steps run and JSON settings (devices is not a setting)
    assert s["diff"]["images"] <= ATOL and s["diff"]["probabilities"] <= ATOL, s["diff"]
    assert s["diff"]["history"] <= 1e-4, s["diff"]  # objective values (log-prob minus TV), not unit-range pixels
    assert s["diff"]["one_sample"] <= ATOL, s["diff"]  # one sample on two replicas (padded) is that sample
    assert s["gate_exit"] == s["gate_devices_exit"] == 0
    plain, spread = s["gate"], s["gate_devices"]
    assert [c["index"] for c in plain["classes"]] == [c["index"] for c in spread["classes"]] == [0, 3, 7]
    np.testing.assert_allclose([c["confidence"] for c in spread["classes"]],
                               [c["confidence"] for c in plain["classes"]], atol=ATOL)
    assert [[k["status"] for k in c["checks"]] for c in spread["classes"]] == \
        [[k["status"] for k in c["checks"]] for c in plain["classes"]]
    assert (spread["passed"], spread["verdict"], spread["settings"]) == (plain["passed"], plain["verdict"],
                                                                         plain["settings"])


def test_all_on_a_one_device_machine_is_the_plain_engine_on_it(digits_model):
    run = {"classes": [0, 3], "steps": 16, "restarts": 2, "progress": False}
    plain = amaxcheck.synthesize(digits_model, **run)
    one = amaxcheck.synthesize(digits_model, devices="all", **run)
    assert engine_for(digits_model, one.config).devices == ("/device:CPU:0",)
    np.testing.assert_array_equal(one.images, plain.images)  # one replica: the unchanged chunk, bit for bit
    np.testing.assert_array_equal(one.probabilities, plain.probabilities)


@pytest.mark.parametrize("devices, needle", [
    (["/gpu:7"], ("unknown device '/gpu:7'; this machine has /device:CPU:0. Pass names from that list, or "
                  "devices='all'")),
    (["/cpu:0", "/cpu:3"], "unknown device '/cpu:3'"),
    ("/cpu", "'/cpu' names no single device; add its index, e.g. /cpu:0"),
    (["not a device!"], "'not a device!' is not a device name of this machine; name devices like /gpu:0"),
    (["/job:worker/device:CPU:0"], "is not a device name of this machine"),
    (["/cpu:0", "CPU:0"], "'CPU:0' is /device:CPU:0, listed twice"),
])
def test_a_device_this_machine_lacks_is_a_config_error_naming_the_devices(digits_model, devices, needle):
    with pytest.raises(ConfigError) as caught:
        amaxcheck.synthesize(digits_model, [0], steps=1, restarts=1, devices=devices, progress=False)
    assert needle in str(caught.value)
    assert isinstance(caught.value, AmaxcheckError)


@pytest.mark.parametrize("devices, needle", [
    (3, "devices must be 'all' or a list of device names"),
    ([], "no empty names"),
    ("", "no empty names"),
    ("/gpu:0,,/gpu:1", "no empty names"),
    ([0, 1], "device names (strings)"),
    ("all,/gpu:0", "'all' stands alone"),
    (["/gpu:0", "/gpu:0"], "lists /gpu:0 more than once"),
])
def test_malformed_devices_are_refused_when_the_config_is_built(devices, needle):
    with pytest.raises(ConfigError, match=None) as caught:
        AscentConfig(devices=devices)
    assert needle in str(caught.value)


def test_jit_compile_with_devices_is_refused():
    with pytest.raises(ConfigError, match="jit_compile=True cannot be combined with devices='all'.*devices=None"):
        AscentConfig(devices="all", jit_compile=True)


def test_devices_shape_the_engine_but_not_the_result_identity(digits_model):
    spread = AscentConfig(devices=["/cpu:0", "/gpu:1"])
    assert spread.devices == ("/cpu:0", "/gpu:1") and AscentConfig(devices="/cpu:0, /gpu:1") == spread
    assert spread.graph_key() != AscentConfig().graph_key()  # another compiled function
    assert spread.result_key() == AscentConfig() and AscentConfig().result_key() == AscentConfig()
    assert _cache.result_key(digits_model, [0], None, spread) == _cache.result_key(digits_model, [0], None,
                                                                                   AscentConfig())
    assert "devices" not in spread.as_dict()  # the JSON settings do not change with placement
    assert eval(repr(spread), {"AscentConfig": AscentConfig}) == spread


def test_devices_flag_and_pyproject_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    parse = cli.build_parser().parse_args
    no_project = project.ProjectDefaults()
    assert cli.resolve_options(parse(["gate", DIGITS, "--devices", "all"]), no_project).ascent.devices == "all"
    opts = cli.resolve_options(parse(["show", DIGITS, "--class", "0", "-o", "x.png", "--devices", "/gpu:0,/gpu:1"]),
                               no_project)
    assert opts.ascent.devices == ("/gpu:0", "/gpu:1")
    assert cli.resolve_options(parse(["gate", DIGITS]), no_project).ascent.devices is None
    values, _ = project.parse_table({"devices": ["/gpu:0", "/gpu:1"]}, tmp_path / "pyproject.toml")
    assert values == {"devices": ("/gpu:0", "/gpu:1")}
    assert cli.resolve_options(parse(["show", DIGITS, "--class", "0", "-o", "x.png"]),
                               project.ProjectDefaults(tmp_path / "pyproject.toml", values)).ascent.devices == \
        ("/gpu:0", "/gpu:1")
    with pytest.raises(ConfigError, match=r"pyproject.toml \[tool.amaxcheck\]: devices must be 'all' or a list"):
        project.parse_table({"devices": 2}, tmp_path / "pyproject.toml")
    code = cli.main(["gate", DIGITS, "--devices", ","])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--devices must be 'all' or device names" in err[0], err


def test_an_unknown_device_on_the_command_line_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["gate", DIGITS, "--classes", "0", "--steps", "1", "--restarts", "1", "--devices", "/gpu:7"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "unknown device '/gpu:7'; this machine has /device:CPU:0" in err[0]
