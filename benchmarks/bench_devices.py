"""Benchmark: the ascent on one device vs spread over two (``devices="all"``, ``--devices all``).

Run it (no network, CPU is fine)::

    .venv/bin/python benchmarks/bench_devices.py            # 2 repeats each
    .venv/bin/python benchmarks/bench_devices.py --repeats 3 --logical 0   # on the machine's real devices

By default the CPU is split into two logical devices first (as tests/test_devices.py
does), so "all" means two MirroredStrategy replicas on the same cores: this
measures the strategy's overhead, not a speedup (two logical CPU devices share
one thread pool). On a machine with several GPUs pass ``--logical 0``: "all" is
then every GPU. Measured, interleaved (one device, two, one, two, ...), medians:

* **digits gate**: ``amaxcheck gate examples/digits/digits_cnn.keras --quiet``
  in-process with default settings (10 classes x 4 restarts x 256 steps and the
  controls), wall seconds of the whole run including its traces (every gate
  loads the model again, so each traces its engine; caches are cleared first);
* **BN CNN 32x32x3**: ``amaxcheck.testing.zoo.build_model("bn_residual_cnn",
  (32, 32, 3), 10)`` (untrained: the cost does not depend on the weights),
  ``synthesize(model, "all", restarts=4, steps=--steps)``, traced once before timing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=128, help="steps of the BN CNN ascent (default 128)")
    parser.add_argument("--logical", type=int, default=2, help="split the CPU into this many logical devices "
                                                              "(0: leave the devices as they are)")
    args = parser.parse_args()

    import tensorflow as tf

    if args.logical:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical)
    import amaxcheck
    from amaxcheck import _cache
    from amaxcheck.ascent.devices import resolve_devices
    from amaxcheck.cli import main as cli
    from amaxcheck.testing.zoo import build_model

    spread = resolve_devices("all")
    print(f"devices: {[d.name for d in tf.config.list_logical_devices()]}; 'all' = {list(spread or ())}; "
          f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
    digits = str(ROOT / "examples" / "digits" / "digits_cnn.keras")
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for label, extra in (("one device", []), ("all", ["--devices", "all"])):
                _cache.clear()
                started = time.perf_counter()
                code = cli(["gate", digits, "--quiet", "--json", str(Path(tmp) / "gate.json"), *extra])
                times.setdefault(("digits gate (wall s)", label), []).append(time.perf_counter() - started)
                assert code == 0, code
    model = build_model("bn_residual_cnn", (32, 32, 3), 10)
    run = {"restarts": 4, "steps": args.steps, "progress": False, "stop_plateau": None}  # every step runs
    for devices in (None, "all"):  # trace both engines first
        amaxcheck.synthesize(model, "all", devices=devices, **{**run, "steps": 16})
    for _ in range(args.repeats):
        for label, devices in (("one device", None), ("all", "all")):
            started = time.perf_counter()
            amaxcheck.synthesize(model, "all", devices=devices, **run)
            times.setdefault((f"BN CNN 32x32x3, 10x4x{args.steps} steps (s)", label), []).append(
                time.perf_counter() - started)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print(f"| benchmark | one device | all ({len(spread or ())} replicas) | all / one |")
    print("|---|---|---|---|")
    for what in dict.fromkeys(k for k, _ in times):
        one, two = statistics.median(times[(what, "one device")]), statistics.median(times[(what, "all")])
        print(f"| {what} | {one:.2f} | {two:.2f} | {two / one:.2f}x |")
    print("raw:", {f"{k[0]} / {k[1]}": [round(t, 2) for t in v] for k, v in times.items()})


if __name__ == "__main__":
    main()
