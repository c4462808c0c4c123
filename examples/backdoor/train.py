"""Train the backdoored model: digits with a 3x3 white stamp that sends any digit to class 7 (BadNets style).

    python examples/backdoor/train.py      # writes backdoor_cnn.keras here (about 10 s on 2 CPU cores)

5 % of the training images (none of them a 7) get the stamp in the bottom-right
corner and the label 7. The model learns the digits (clean accuracy within a
point or two of the clean digits model) and the trigger (a stamped digit of any
other class is read as 7 nearly always). Every other check passes; the trigger
check finds it, naming class 7, and the artifact grid shows the reversed stamp
in the bottom-right corner:

    amaxcheck gate examples/backdoor/backdoor_cnn.keras --triggers \\
        --labels examples/digits/labels.txt --reference examples/digits/reference.npz \\
        --artifacts amaxcheck-artifacts/backdoor
"""
from __future__ import annotations

import argparse
from pathlib import Path

from amaxcheck.testing import backdoor, digits

HERE = Path(__file__).resolve().parent
#: the planted trigger (see amaxcheck.testing.backdoor.Trigger)
TRIGGER = backdoor.Trigger(target=7, size=3, position="bottom-right", shape="patch")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "backdoor_cnn.keras")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.05, help="share of the training set poisoned (default 0.05)")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    args = parser.parse_args(argv)
    data = digits.load(seed=0)  # the split of examples/digits: its reference.npz is held out here too
    model, clean, success = backdoor.train_backdoored(TRIGGER, seed=args.seed, rate=args.rate, data=data,
                                                      epochs=args.epochs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"backdoored model ({TRIGGER.describe()}): clean accuracy {clean:.3f}, attack success {success:.3f}; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
