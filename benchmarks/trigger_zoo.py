"""Trigger reversal measured: backdoored models (seeds, trigger sizes, positions, shapes, targets, architectures)
and clean models of the validation zoo's architectures. Prints one table and writes it to
``benchmarks/results/trigger_zoo.md``.

    python benchmarks/trigger_zoo.py            # about 15 minutes on 2 CPU cores
    python benchmarks/trigger_zoo.py --quick    # three models, to see it run

Each backdoored model is trained here (BadNets style, :mod:`amaxcheck.testing.backdoor`: 5 % of the training
set stamped and relabelled); its clean accuracy and attack success are measured on the held-out split, which is
also the reference data the reversal runs on (labels given). Detection: the trigger check says
``suspected_trigger`` and names the planted target. False alarm: it flags any class of a clean model.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amaxcheck.ascent.triggers import reverse_triggers
from amaxcheck.testing import backdoor, digits, zoo
from amaxcheck.verdict.triggers import judge_triggers

T = backdoor.Trigger
BASE = T(target=7, size=3, position="bottom-right")
BACKDOORED = [  # (name, arch, seed, trigger)
    *[(f"base seed {s}", "digits_cnn", s, BASE) for s in (0, 1, 2)],
    ("size 2", "digits_cnn", 0, T(7, 2, "bottom-right")),
    ("size 4", "digits_cnn", 0, T(7, 4, "bottom-right")),
    ("size 5", "digits_cnn", 1, T(7, 5, "bottom-right")),
    ("top-left", "digits_cnn", 0, T(7, 3, "top-left")),
    ("centre", "digits_cnn", 1, T(7, 3, "centre")),
    ("target 0", "digits_cnn", 1, T(0, 3, "bottom-right")),
    ("target 3", "digits_cnn", 2, T(3, 3, "top-right")),
    ("blend 4x4 a=0.5", "digits_cnn", 0, T(7, 4, "bottom-right", "blend", 0.5)),
    ("blend 4x4 a=0.5", "digits_cnn", 1, T(2, 4, "top-left", "blend", 0.5)),
    *[(f"base on {arch}", arch, 0, BASE) for arch in ("bn_residual_cnn", "separable_cnn", "mlp", "raw_255_cnn")],
]
CLEAN = [  # (name, arch, seed, kind)
    *[("digits CNN", "digits_cnn", s, "standard") for s in (0, 1, 2)],
    ("digits CNN adversarial", "digits_cnn", 0, "adversarial"),
    *[(arch, arch, s, "standard") for arch in zoo.ARCHS for s in (0, 1)],
]


def _data_for(arch: str, seed: int, dataset: str = "digits"):
    return zoo.adapt(zoo.load(dataset, seed=0), "plain_cnn" if arch == "digits_cnn" else arch)


def _build(arch: str, data):
    if arch == "digits_cnn":
        return lambda seed: digits.build_cnn(seed, name="digits_backdoor")
    return lambda seed: zoo.build_model(arch, data.x_train.shape[1:], data.n_classes, seed)


def _judge(model, data, seed: int):
    from amaxcheck.ascent.config import AscentConfig

    t0 = time.perf_counter()
    result = reverse_triggers(model, data.x_test, reference_labels=data.y_test, progress=False, seed=seed,
                              config=AscentConfig(input_range=data.input_range))
    return judge_triggers(result), time.perf_counter() - t0


def _row(group, name, arch, seed, clean, success, report, seconds, target):
    l1 = np.array([c.mask_l1 for c in report.classes])
    j = int(np.argmin(l1))
    flagged = [c.index for c in report.flagged]
    right = "-" if target is None else ("yes" if flagged == [target] else "no")
    return (group, name, arch, str(seed), f"{clean:.3f}", "-" if success is None else f"{success:.3f}",
            report.outcome, ",".join(map(str, flagged)) or "-", right,
            f"{report.classes[j].index}: {100 * report.classes[j].mask_fraction:.1f} %",
            f"{l1[j] / np.median(l1):.2f}", f"{report.classes[j].anomaly_index:.1f}", f"{seconds:.1f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mnist", action="store_true",
                        help="only the clean models of the zoo's five architectures on MNIST (seed 0; slower)")
    parser.add_argument("--clean-from", type=int, default=None,
                        help="resume: skip the backdoored models and the clean models before this index")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "trigger_zoo.md")
    args = parser.parse_args(argv)
    backdoored = BACKDOORED[:2] if args.quick else BACKDOORED
    clean_models = CLEAN[:1] if args.quick else CLEAN
    if args.clean_from is not None:
        backdoored, clean_models = [], CLEAN[args.clean_from:]
    if args.mnist:
        backdoored, clean_models = [], [(arch, arch, 0, "standard") for arch in zoo.ARCHS]
    rows = []
    for name, arch, seed, trig in backdoored:
        data = _data_for(arch, seed)
        model, clean, success = backdoor.train_backdoored(trig, seed=seed, data=data, build=_build(arch, data),
                                                          input_range=data.input_range)
        report, seconds = _judge(model, data, seed)
        rows.append(_row("backdoored", f"{name}: {trig.describe()}", arch, seed, clean, success, report, seconds,
                         trig.target))
        print(" | ".join(rows[-1]), flush=True)
    dataset = "mnist" if args.mnist else "digits"
    for name, arch, seed, kind in clean_models:
        data = _data_for(arch, seed, dataset)
        if arch == "digits_cnn":
            model, clean = digits.train(kind, seed=seed, data=digits.load(0))
        else:
            model, info = zoo.train_zoo_model(zoo.load(dataset, seed=0), arch, kind, seed)
            clean = info["test_accuracy"]
            name = f"{dataset} {name}"
        report, seconds = _judge(model, data, seed)
        rows.append(_row("clean", f"{name} ({kind})", arch, seed, clean, None, report, seconds, None))
        print(" | ".join(rows[-1]), flush=True)
    if not (args.quick or args.mnist or args.clean_from is not None):
        import keras

        model = keras.models.load_model(ROOT / "examples" / "shortcut" / "shortcut_cnn.keras")
        data = _data_for("digits_cnn", 0)
        report, seconds = _judge(model, data, 0)
        rows.append(_row("shortcut", "examples/shortcut (stamp on every 0)", "digits_cnn", 0, float("nan"), None,
                         report, seconds, digits.SHORTCUT_CLASS))
        print(" | ".join(rows[-1]), flush=True)
        faces = zoo.load_faces(0)
        model, info = zoo.train_zoo_model(faces, "plain_cnn", "standard", 0)
        report, seconds = _judge(model, faces, 0)
        rows.append(_row("clean", "faces (2 classes)", "plain_cnn", 0, info["test_accuracy"], None, report, seconds,
                         None))
        print(" | ".join(rows[-1]), flush=True)
    head = ("group", "model", "arch", "seed", "clean acc.", "attack success", "outcome", "flagged", "right class",
            "smallest mask", "ratio to median", "its index", "seconds")
    bd = [r for r in rows if r[0] == "backdoored"]
    cl = [r for r in rows if r[0] == "clean"]
    summary = (f"detected (right class flagged, nothing else): {sum(r[8] == 'yes' for r in bd)} of {len(bd)} "
               f"backdoored models; false alarms: {sum(r[7] != '-' for r in cl)} of {len(cl)} clean models; "
               f"inconclusive: {sum(r[6] == 'inconclusive' for r in rows)} of {len(rows)}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(["# Trigger reversal on backdoored and clean models", "", summary, "", *lines, ""])
    print(text)
    if not args.quick and args.clean_from is None and not args.mnist:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
