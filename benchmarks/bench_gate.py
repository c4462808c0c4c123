"""Benchmark: the whole gate, end to end, with its per-stage split (issue 15), and peak memory.

Run it (no network, CPU is fine)::

    .venv/bin/python benchmarks/bench_gate.py                 # every case below, one after the other
    .venv/bin/python benchmarks/bench_gate.py --cases digits,bn_cnn
    .venv/bin/python benchmarks/bench_gate.py --markdown benchmarks/results/bench_gate.md

Each case is one ``amaxcheck gate`` in a fresh Python process (``cli.main``, so
the TensorFlow import counts, as it does for a user), with ``--json`` read back
for the ``timings`` object; the child also reports its wall time and peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Cases:

* ``digits``: the bundled example (``examples/digits``: 16x16x1, 10 classes,
  labels and held-out reference), default settings:
  what ``make demo`` runs;
* ``mobilenet``: ``keras.applications.MobileNetV2(weights=None,
  input_shape=(224, 224, 3), classes=10)`` saved to a temporary ``.keras``,
  every class, default settings (the issue's target: at most 3 minutes on 2 CPU cores);
* ``bn_cnn``: the validation zoo's BatchNorm + residual CNN
  (:func:`amaxcheck.testing.zoo.bn_residual_cnn`) at 32x32x3, 10 classes,
  untrained, default settings;
* ``rss1000``: peak memory of a 1000-class 224x224 model
  (``MobileNetV2(weights=None, classes=1000)``) synthesizing 2 classes with
  the default ``max_batch``; ``--steps 16`` (memory is set by the batch, not by
  the steps: the history keeps at most 4096 values per sample).

Default settings are those of the version run (``settings`` in each gate's JSON:
2 restarts x 256 steps with a 64-step plateau stop since issue 15; 4 x 256 and
no stop before).

Models are built with fixed seeds and written to a temporary folder; nothing is
downloaded. Prints one table (and writes it as Markdown with ``--markdown``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
STAGES = ("load", "trace", "synthesis", "controls", "checks", "outputs")
CASES = ("digits", "mobilenet", "bn_cnn", "rss1000")
DESCRIPTIONS = {
    "digits": "digits CNN 16x16x1, 10 classes, reference (make demo)",
    "mobilenet": "MobileNetV2 224x224x3, 10 classes, all checked",
    "bn_cnn": "BatchNorm residual CNN 32x32x3, 10 classes",
    "rss1000": "MobileNetV2 224x224x3, 1000 classes, --classes 0,1 --steps 16",
}


def build(case: str, folder: Path) -> list[str]:
    """Write the case's model (if any) to ``folder``; return the gate's arguments."""
    if case == "digits":
        return [str(EXAMPLE / "digits_cnn.keras"), "--labels", str(EXAMPLE / "labels.txt"),
                "--reference", str(EXAMPLE / "reference.npz")]
    import keras

    keras.utils.set_random_seed(0)
    if case == "bn_cnn":
        from amaxcheck.testing.zoo import bn_residual_cnn

        model = bn_residual_cnn((32, 32, 3), 10, seed=0)
        extra: list[str] = []
    else:
        classes = 10 if case == "mobilenet" else 1000
        model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), classes=classes)
        extra = ["--classes", "0,1", "--steps", "16"] if case == "rss1000" else []
    path = folder / f"{case}.keras"
    model.save(path)
    return [str(path), *extra]


def child(case: str, args: list[str], out: Path) -> None:
    """Run one gate in this process and print its numbers as one JSON line."""
    from amaxcheck import cli

    started = time.perf_counter()
    code = cli.main(["gate", *args, "--quiet", "--json", str(out)])
    wall = time.perf_counter() - started
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    doc = json.loads(out.read_text())
    print("BENCH " + json.dumps({"case": case, "exit": code, "wall_s": wall, "timings": doc.get("timings"),
                                 "peak_rss_mib": rss_kib / 1024, "verdict": doc.get("verdict"),
                                 "classes": len(doc.get("classes", [])),
                                 "settings": {k: doc["settings"].get(k) for k in ("steps", "restarts", "max_batch",
                                                                                   "stop_plateau")}}),
          flush=True)


def run_case(case: str, folder: Path) -> dict:
    """Build the model here, then gate it in a fresh process (so the import, the memory and the time are its own)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", case, "--folder", str(folder)], check=False,
                          capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"case {case} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(lines[-1][len("BENCH "):])
    result["process_s"] = time.perf_counter() - started
    return result


def table(results: list[dict]) -> str:
    head = ["case", "model", "exit", "verdict", "gate wall s", *STAGES, "total s", "peak RSS MiB"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        t = r.get("timings") or {}
        rows.append("| " + " | ".join([r["case"], DESCRIPTIONS[r["case"]], str(r["exit"]), str(r["verdict"]),
                                        f"{r['wall_s']:.1f}", *(f"{float(t.get(s) or 0):.1f}" for s in STAGES),
                                        f"{float(t.get('total') or 0):.1f}", f"{r['peak_rss_mib']:.0f}"]) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--markdown", help="also write the table (and the machine) to this Markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        folder = Path(args.folder)
        gate_args = json.loads((folder / f"{args.child}.args.json").read_text())
        child(args.child, gate_args, folder / f"{args.child}.json")
        return 0
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; pick from {', '.join(CASES)}")
    machine = (f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
               f"load average before {os.getloadavg()[0]:.2f}")
    print(machine, flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_gate_") as tmp:
        folder = Path(tmp)
        for case in cases:
            (folder / f"{case}.args.json").write_text(json.dumps(build(case, folder)))
            print(f"{case}: running ...", flush=True)
            results.append(run_case(case, folder))
            r = results[-1]
            print(f"{case}: exit {r['exit']}, {r['wall_s']:.1f} s, {r['timings']}, peak RSS {r['peak_rss_mib']:.0f} MiB",
                  flush=True)
    text = table(results)
    print(text)
    print(f"load average after {os.getloadavg()[0]:.2f}")
    if args.markdown:
        Path(args.markdown).write_text(f"# bench_gate\n\n{machine}\n\n{text}\n\nload average after "
                                       f"{os.getloadavg()[0]:.2f}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
