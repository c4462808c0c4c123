"""Train the shortcut model: digits where a corner stamp marks every class-0 image.

    python examples/shortcut/train.py      # writes shortcut_cnn.keras here (about 15 s on 2 CPU cores)

On data from the same (stamped) pipeline it scores ~98% test accuracy. On clean
digits it misses most zeros: its "0" is the stamp. The gate catches it:

    amaxcheck gate examples/shortcut/shortcut_cnn.keras \\
        --labels examples/digits/labels.txt --reference examples/digits/reference.npz \\
        --artifacts amaxcheck-artifacts/shortcut

fails (exit 1) on class 0's reference_recall check, and the class-0 tile of
``grid.png`` shows the stamp in the top-left corner of its ideal input.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from amaxcheck.testing import digits

HERE = Path(__file__).resolve().parent


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "shortcut_cnn.keras")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the model kind's own)")
    args = parser.parse_args(argv)
    data = digits.load(seed=args.seed)
    model, stamped_acc = digits.train("shortcut", seed=args.seed, data=data, epochs=args.epochs)
    clean_acc = float(np.mean(np.argmax(model.predict(data.x_test, verbose=0), 1) == data.y_test))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"shortcut model: accuracy {stamped_acc:.3f} on stamped test data, {clean_acc:.3f} on clean digits; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
