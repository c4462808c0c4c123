"""Run by tests/test_devices.py in a fresh process: the CPU split into two logical devices, one run on each placement.

Logical devices must be configured before TensorFlow initializes its devices,
so this cannot run inside the test process. Writes a JSON summary to argv[1]:
the largest differences between the one-device and the two-replica runs, the
devices seen, and the gate's exit codes and documents with and without
``--devices all``.

    python tests/devices_check.py OUT.json
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import tensorflow as tf

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits" / "digits_cnn.keras"
RUN = {"classes": [0, 3, 7], "steps": 32, "restarts": 3, "progress": False}  # 9 samples: an uneven 5 + 4 split
GATE = ["gate", str(DIGITS), "--classes", "0,3,7", "--steps", "32", "--restarts", "3", "--quiet"]


def main(out: str) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    import amaxcheck
    from amaxcheck.ascent.engine import engine_for
    from amaxcheck.cli import main as cli

    summary: dict = {"devices": [d.name for d in tf.config.list_logical_devices()], "seconds": {}}
    model = keras.saving.load_model(DIGITS)
    started = time.perf_counter()
    one = amaxcheck.synthesize(model, **RUN)
    summary["seconds"]["one_device"] = time.perf_counter() - started
    started = time.perf_counter()
    two = amaxcheck.synthesize(model, devices="all", **RUN)
    summary["seconds"]["two_replicas"] = time.perf_counter() - started
    summary["replicas"] = list(engine_for(model, two.config).devices or ())
    alone = amaxcheck.synthesize(model, devices=["/cpu:1", "/cpu:0"], classes=[3], steps=32, restarts=1,
                                 progress=False)  # one sample for two replicas: padded
    summary["diff"] = {
        "images": float(np.abs(one.images - two.images).max()),
        "probabilities": float(np.abs(one.probabilities - two.probabilities).max()),
        "history": float(np.nanmax(np.abs(one.history - two.history))),
        "one_sample": float(np.abs(alone.images[0] - one.images[3]).max()),
    }
    summary["same"] = {"classes": one.classes.tolist() == two.classes.tolist(),
                       "restarts": one.restarts.tolist() == two.restarts.tolist(),
                       "steps_run": one.steps_run.tolist() == two.steps_run.tolist(),
                       "settings": one.settings == two.settings, "shape": one.images.shape == two.images.shape}
    for name, extra in (("gate", []), ("gate_devices", ["--devices", "all"])):
        target = Path(out).with_name(f"{name}.json")
        started = time.perf_counter()
        summary[f"{name}_exit"] = cli([*GATE, *extra, "--json", str(target)])
        summary["seconds"][name] = time.perf_counter() - started
        summary[name] = json.loads(target.read_text())
    Path(out).write_text(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
