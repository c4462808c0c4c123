"""Measure the degeneracy verdict on the digits zoo and print the README's table.

    .venv/bin/python benchmarks/verdict_table.py [--figure examples/figures/healthy_vs_degenerate.png]

Trains the zoo (about a minute on 2 CPU cores), synthesizes with default
settings, checks with and without the bundled reference images, and prints a
Markdown table: model-level degeneracy and the mean of each signal over classes.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import amaxcheck
from amaxcheck.verdict.checks import SIGNALS
from amaxcheck.output.artifacts import grid_image, save_png, to_uint8
from amaxcheck.testing import digits

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figure", type=Path, default=None, help="write the healthy-vs-degenerate grid here")
    args = parser.parse_args(argv)

    import keras

    ref = np.load(ROOT / "examples/digits/reference.npz")
    data = digits.load()
    zoo = {"standard": keras.saving.load_model(ROOT / "examples/digits/digits_cnn.keras")}
    accuracy = {"standard": float(np.mean(zoo["standard"].predict(data.x_test, verbose=0).argmax(1) == data.y_test))}
    for kind in ("adversarial", "random_labels", "untrained"):
        zoo[kind], accuracy[kind] = digits.train(kind, data=data)
    zoo["shortcut"] = keras.saving.load_model(ROOT / "examples/shortcut/shortcut_cnn.keras")
    accuracy["shortcut"] = float(np.mean(zoo["shortcut"].predict(data.x_test, verbose=0).argmax(1) == data.y_test))

    header = ("| model | clean test acc. | degeneracy (reference) | degeneracy (no reference) | "
              + " | ".join(SIGNALS) + " | failing checks |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    results = {}
    for kind, model in zoo.items():
        t0 = time.perf_counter()
        result = amaxcheck.synthesize(model, labels=digits.LABELS, progress=False)
        with_ref = amaxcheck.check(result, reference=ref["x"], reference_labels=ref["y"])
        without = amaxcheck.check(result)
        results[kind] = with_ref
        sig = [np.nanmean([c.signals.get(k, np.nan) for c in with_ref.classes]) for k in SIGNALS]
        failing = sorted({f"{ch.name}" for c in with_ref.classes for ch in c.failed_checks})
        print(f"| {kind} | {accuracy[kind]:.2f} | **{with_ref.degeneracy:.2f}**{' degenerate' if with_ref.degenerate else ''} "
              f"| {without.degeneracy:.2f}{' degenerate' if without.degenerate else ''} | "
              + " | ".join(f"{v:.2f}" for v in sig) + f" | {', '.join(failing) or '-'} |  <!-- {time.perf_counter() - t0:.1f}s -->")

    if args.figure:
        tiles, captions, colors = [], [], []
        for kind in ("standard", "random_labels"):
            rep = results[kind]
            for c in rep.classes:
                tiles.append(to_uint8(c.image[None], (0, 1))[0])
                captions.append([f"{kind} {c.label}", f"p={c.confidence:.2f} d={c.degeneracy:.2f}"])
                colors.append("red" if c.degenerate else "green")
        save_png(args.figure, grid_image(np.stack(tiles), captions, columns=10, colors=colors))
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
