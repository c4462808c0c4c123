"""Benchmark: how much ascent the checks and the verdict need (issue 15), measured on the validation zoo.

Every zoo model (``amaxcheck.testing.zoo``: data sets x architectures x training
kinds x seeds) is synthesized and checked under several *budgets* -- steps,
restarts, early stop on a plateau, and the size of the learned-nothing controls
-- and each budget is compared with the reference budget (the 0.1 defaults: 4
restarts x 256 steps, no early stop, controls of 3 twins x 4 classes x 2
restarts)::

    .venv/bin/pip install -e ".[zoo]"
    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/budget_zoo.py --datasets digits,faces --seeds 0,1 \
        --out benchmarks/results/budget_zoo.json
    .venv/bin/python benchmarks/budget_zoo.py --tables-from benchmarks/results/budget_zoo.json

For each budget it reports, against the reference budget: the models whose
verdict changed (with labelled reference data and without), the classes whose
check outcome (PASS/FAIL) changed, the largest change of a class's best target
probability, the reach signal's answer, the ascent steps actually run
(sample-steps, what the time is proportional to) and the seconds.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import amaxcheck
from amaxcheck import _cache
from amaxcheck import defaults as D
from amaxcheck.testing import zoo

#: name -> (ascent settings, controls: twins, classes, restarts)
BUDGETS: dict[str, tuple[dict[str, Any], tuple[int, int, int]]] = {
    "reference-0.1": ({"steps": 256, "restarts": 4, "stop_plateau": None}, (3, 4, 2)),
    "4x256-p64": ({"steps": 256, "restarts": 4, "stop_plateau": 64}, (3, 4, 2)),
    "2x256-p64": ({"steps": 256, "restarts": 2, "stop_plateau": 64}, (3, 4, 2)),
    "2x256-p32": ({"steps": 256, "restarts": 2, "stop_plateau": 32}, (3, 4, 2)),
    "2x256-p64-controls2x4": ({"steps": 256, "restarts": 2, "stop_plateau": 64}, (2, 4, 2)),
    "2x256-p64-controls3x2": ({"steps": 256, "restarts": 2, "stop_plateau": 64}, (3, 2, 2)),
    "2x256-p64-controls2x2": ({"steps": 256, "restarts": 2, "stop_plateau": 64}, (2, 2, 2)),
}
REFERENCE = "reference-0.1"


def measure(model: Any, data: zoo.ZooData, seed: int, budgets: list[str]) -> dict[str, Any]:
    n_ref = min(200, len(data.x_test))
    out: dict[str, Any] = {}
    for name in budgets:
        settings, (twins, classes, restarts) = BUDGETS[name]
        D.CONTROL_TWINS, D.CONTROL_CLASSES, D.CONTROL_RESTARTS = twins, classes, restarts
        _cache.CONTROLS.clear()
        config = amaxcheck.AscentConfig(seed=seed, input_range=data.input_range, **settings)
        t0 = time.perf_counter()
        result = amaxcheck.synthesize(model, "all", config=config, labels=data.labels, progress=False)
        synth = time.perf_counter() - t0
        t0 = time.perf_counter()
        noref = amaxcheck.check(result, model)
        control = time.perf_counter() - t0
        ref = amaxcheck.check(result, model, reference=data.x_test[:n_ref], reference_labels=data.y_test[:n_ref])
        reach = next((s for s in ref.signals if s.get("name") == "reach"), None)
        out[name] = {
            "synth_seconds": round(synth, 2), "control_seconds": round(control, 2),
            "sample_steps": int(np.sum(result.steps_run)),
            "best": [float(c.confidence) for c in ref.classes],
            "passed_ref": [bool(c.passed) for c in ref.classes],
            "passed_noref": [bool(c.passed) for c in noref.classes],
            "verdict_ref": ref.verdict, "verdict_noref": noref.verdict,
            "reach_says": None if reach is None else reach.get("says"),
        }
    return out


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            data = zoo.load(dataset, seed)
            for arch in args.archs:
                for kind in args.kinds:
                    row: dict[str, Any] = {"dataset": dataset, "arch": arch, "kind": kind, "seed": seed}
                    try:
                        model, info = zoo.train_zoo_model(data, arch, kind, seed)
                        row["test_accuracy"] = info["test_accuracy"]
                        row["budgets"] = measure(model, zoo.adapt(data, arch), seed, args.budgets)
                    except Exception as exc:  # noqa: BLE001 - recorded, the table shows it
                        row["error"] = f"{type(exc).__name__}: {exc}"
                    rows.append(row)
                    print(json.dumps({k: row[k] for k in ("dataset", "arch", "kind", "seed")}
                                     | {"error": row.get("error")}), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    ok = [r for r in rows if "budgets" in r]
    names = [n for n in BUDGETS if all(n in r["budgets"] for r in ok)]
    lines = [("| budget | models | verdict changed (ref / noref) | class outcome changed (ref / noref) | "
              "max change of best p | reach answer changed | sample-steps (vs reference) | ascent s | control s |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        v_ref = v_no = c_ref = c_no = reach = 0
        classes = 0
        dp = 0.0
        steps = ref_steps = 0
        synth = control = 0.0
        for r in ok:
            a, b = r["budgets"][REFERENCE], r["budgets"][name]
            v_ref += a["verdict_ref"] != b["verdict_ref"]
            v_no += a["verdict_noref"] != b["verdict_noref"]
            c_ref += sum(x != y for x, y in zip(a["passed_ref"], b["passed_ref"]))
            c_no += sum(x != y for x, y in zip(a["passed_noref"], b["passed_noref"]))
            classes += len(a["passed_ref"])
            dp = max(dp, max(abs(x - y) for x, y in zip(a["best"], b["best"])))
            reach += a["reach_says"] != b["reach_says"]
            steps += b["sample_steps"]
            ref_steps += a["sample_steps"]
            synth += b["synth_seconds"]
            control += b["control_seconds"]
        lines.append(f"| {name} | {len(ok)} | {v_ref} / {v_no} | {c_ref} / {c_no} of {classes} | {dp:.2f} | "
                     f"{reach} | {steps} ({steps / max(ref_steps, 1):.2f}x) | {synth:.0f} | {control:.0f} |")
    return "\n".join(lines)


def changed_classes(rows: list[dict[str, Any]], name: str) -> str:
    """The classes whose outcome differs from the reference budget's, one line each."""
    out = []
    for r in rows:
        if "budgets" not in r or name not in r["budgets"]:
            continue
        a, b = r["budgets"][REFERENCE], r["budgets"][name]
        for i, (x, y) in enumerate(zip(a["passed_noref"], b["passed_noref"])):
            if x != y:
                out.append(f"* {r['dataset']} {r['arch']} {r['kind']} seed {r['seed']} class {i}: "
                           f"best p {a['best'][i]:.3f} -> {b['best'][i]:.3f} ({'PASS' if x else 'FAIL'} -> "
                           f"{'PASS' if y else 'FAIL'})")
    return "\n".join(out) or "* none"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="digits,faces")
    ap.add_argument("--archs", default=",".join(zoo.ARCHS))
    ap.add_argument("--kinds", default=",".join(zoo.KINDS))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--budgets", default=",".join(BUDGETS), help="comma-separated names of BUDGETS")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--tables-from", type=Path, nargs="*", help="print the tables of stored runs (merged)")
    args = ap.parse_args(argv)
    if args.tables_from:
        rows = [row for path in args.tables_from for row in json.loads(path.read_text())["rows"]]
    else:
        args.datasets, args.archs, args.kinds = (s.split(",") for s in (args.datasets, args.archs, args.kinds))
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.budgets = [REFERENCE] + [b for b in args.budgets.split(",") if b != REFERENCE]
        t0 = time.perf_counter()
        rows = run(args)
        if args.out:
            args.out.write_text(json.dumps({"seconds": round(time.perf_counter() - t0), "rows": rows}, indent=1))
    print(table(rows))
    for name in BUDGETS:
        if name != REFERENCE and any(name in r.get("budgets", {}) for r in rows):
            print(f"\nClass outcomes that changed without reference data, {name}:\n{changed_classes(rows, name)}")


if __name__ == "__main__":
    main()
