"""Train the bundled example model: a small CNN on scikit-learn's digits (no download).

    python examples/digits/train.py            # writes digits_cnn.keras, labels.txt, reference.npz here

Takes about 15 s on two CPU cores. The committed files are what this script
writes with its defaults.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from amaxcheck.testing import digits

HERE = Path(__file__).resolve().parent


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: next to this script)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the model kind's own)")
    parser.add_argument("--kind", default="standard", choices=digits.KINDS)
    parser.add_argument("--name", default="digits_cnn.keras")
    args = parser.parse_args(argv)

    data = digits.load(seed=args.seed)
    model, acc = digits.train(args.kind, seed=args.seed, data=data, epochs=args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / args.name)
    (args.out / "labels.txt").write_text("\n".join(digits.LABELS) + "\n")
    # Reference data for the gate: 30 held-out images per class, raw range [0, 1].
    keep = np.concatenate([np.flatnonzero(data.y_test == c)[:30] for c in range(10)])
    np.savez_compressed(args.out / "reference.npz", x=data.x_test[keep], y=data.y_test[keep])
    print(f"{args.kind} model: test accuracy {acc:.3f}; wrote {args.out / args.name}")


if __name__ == "__main__":
    main()
