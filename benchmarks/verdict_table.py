"""Measure the verdict on the digits zoo and print the README's table.

    .venv/bin/python benchmarks/verdict_table.py [--figure examples/figures/healthy_vs_degenerate.png]

Trains the zoo (about a minute on 2 CPU cores), synthesizes with default
settings, checks with and without the bundled reference images, and prints a
Markdown table: the verdict with and without reference data, the model-level signals and naturalness.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import amaxcheck
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

    header = ("| model | clean test acc. | verdict (reference) | verdict (no reference) | held-out acc. (chance) "
              "| reach (untrained floor) | weights moved | naturalness (ref) | failing checks |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    results = {}
    for kind, model in zoo.items():
        t0 = time.perf_counter()
        result = amaxcheck.synthesize(model, labels=digits.LABELS, progress=False)
        with_ref = amaxcheck.check(result, reference=ref["x"], reference_labels=ref["y"])
        without = amaxcheck.check(result)
        results[kind] = with_ref
        sig = {s["name"]: s for s in with_ref.signals}
        acc, reach, weights = sig["held_out_accuracy"], sig["reach"], sig["weights"]
        failing = sorted({f"{ch.name}" for c in with_ref.classes for ch in c.failed_checks})
        print(f"| {kind} | {accuracy[kind]:.2f} | **{with_ref.verdict}** | {without.verdict} "
              f"| {acc['value']:.2f} ({acc['null']:.2f}) | {reach['value']:.2f} ({reach['null']:.2f}) "
              f"| {weights['value']:.2f} | {with_ref.naturalness:.2f} | {', '.join(failing) or '-'} |"
              f"  <!-- {time.perf_counter() - t0:.1f}s -->")

    if args.figure:
        tiles, captions, colors = [], [], []
        for kind in ("standard", "random_labels"):
            rep = results[kind]
            for c in rep.classes:
                tiles.append(to_uint8(c.image[None], (0, 1))[0])
                captions.append([f"{kind} {c.label}", f"p={c.confidence:.2f} n={c.naturalness:.2f}"])
                colors.append("red" if rep.degenerate else "green")
        save_png(args.figure, grid_image(np.stack(tiles), captions, columns=10, colors=colors))
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
