"""Where the engine's time goes beyond the bare forward+backward cost.

    .venv/bin/python benchmarks/profile_ascent.py [--only digits|mobilenet] [--repeats N]

A developer tool next to ``bench_ascent.py`` (same models, batch 40). For each
model it prints:

1. **breakdown** of one default ``amaxcheck.synthesize`` call: the compiled
   chunk loop, the per-chunk ``evaluate`` (best iterate), the final
   probabilities, and the rest (Python, bookkeeping), each as a multiple of the
   bare cost of the same steps;
2. **in-loop parts**: forward+backward cost per step of the random transforms
   (one ``ImageProjectiveTransformV3`` warp), of total variation
   (``objectives.total_variation_per_sample``) and, for comparison, of the same
   TV written with strided slices (``t[:, 1:]``), which it replaced.

It wraps private internals (``_Engine.run_chunk``/``evaluate``,
``ModelAdapter.probabilities``), so it tracks the engine's code and may need
updating when that changes. Timings are noisy on a shared machine: read
medians and the printed load.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ascent as bench  # noqa: E402

BATCH = bench.N_CLASSES * bench.RESTARTS


def load_line() -> str:
    return bench.load_line()


# --------------------------------------------------------------------------- for comparison
def tv_strided(unit):
    """Total variation as it was written before: strided slices (same values, slower gradient on CPU)."""
    import tensorflow as tf

    from amaxcheck import objectives

    dy = tf.abs(unit[:, 1:, :, :] - unit[:, :-1, :, :])
    dx = tf.abs(unit[:, :, 1:, :] - unit[:, :, :-1, :])
    return 0.5 * (objectives._spatial_mean(dy) + objectives._spatial_mean(dx))


# --------------------------------------------------------------------------- measurements
def synth(model, steps):
    import amaxcheck

    return amaxcheck.synthesize(model, "all", restarts=bench.RESTARTS, steps=steps, progress=False,
                                stop_plateau=None)


def bare_seconds(bare, steps):
    grad, x, targets = bare
    started = time.perf_counter()
    for _ in range(steps):
        out = grad(x, targets)
    out.numpy()
    return time.perf_counter() - started


def breakdown(model, steps, repeats):
    """Seconds spent in each part of synthesize(), summed over `repeats` calls, and the bare cost."""
    from amaxcheck.ascent import engine, model_adapter

    synth(model, steps)
    eng = next(iter(engine._ENGINES[model].values()))
    spent = collections.defaultdict(float)

    def timed(name, fn, sync):
        def inner(*args, **kwargs):
            started = time.perf_counter()
            out = fn(*args, **kwargs)
            if sync:
                for o in out if isinstance(out, (tuple, list)) else [out]:
                    if hasattr(o, "numpy"):
                        o.numpy()
            spent[name] += time.perf_counter() - started
            return out
        return inner

    saved = (eng.run_chunk, eng.evaluate, model_adapter.ModelAdapter.probabilities)
    eng.run_chunk = timed("compiled chunk loop", eng.run_chunk, True)
    eng.evaluate = timed("evaluate per chunk (best iterate)", eng.evaluate, True)
    model_adapter.ModelAdapter.probabilities = timed("final probabilities", saved[2], False)
    bare = bench.make_bare(model, BATCH)
    total, bare_total = 0.0, []
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            synth(model, steps)
            total += time.perf_counter() - started
            bare_total.append(bare_seconds(bare, steps))
    finally:
        eng.run_chunk, eng.evaluate, model_adapter.ModelAdapter.probabilities = saved
    b = statistics.median(bare_total)
    print(f"  1. breakdown of synthesize() ({steps} steps), x the bare cost of {steps} steps ({b:.3f} s):")
    print(f"     {'whole call':36s} {total / repeats / b:6.3f}x")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"     {name:36s} {seconds / repeats / b:6.3f}x")
    print(f"     {'rest (Python, eager bookkeeping)':36s} {(total - sum(spent.values())) / repeats / b:6.3f}x")


def parts(model, repeats):
    """Per-step forward+backward cost of the transforms and of TV, inside a compiled 16-step loop."""
    import tensorflow as tf

    from amaxcheck import objectives
    from amaxcheck.ascent.transforms import Transforms, apply_transforms

    shape = tuple(model.input_shape[1:])
    rng = np.random.default_rng(0)
    x0 = tf.constant(rng.normal(0, 0.1, (BATCH,) + shape).astype(np.float32))
    u = tf.constant(rng.uniform(-1, 1, (BATCH, 4)).astype(np.float32))
    spec = Transforms.auto(shape)
    candidates = {
        f"transforms {spec}": lambda y: apply_transforms(y, u, spec, shape),
        "TV (objectives.total_variation_per_sample)":
            lambda y: objectives.total_variation_per_sample(y)[:, None, None, None] + y,
        "TV with strided slices (before)": lambda y: tv_strided(y)[:, None, None, None] + y,
        "nothing (sigmoid only)": lambda y: y,
    }
    grad, x, targets = bench.make_bare(model, BATCH)
    b = statistics.median([bare_seconds((grad, x, targets), 64) / 64 for _ in range(repeats)])
    print(f"  2. in-loop parts, forward+backward per step on the batch of {BATCH} (bare step {b * 1e3:.1f} ms):")
    for name, fn in candidates.items():
        @tf.function
        def loop(x, fn=fn):
            for _ in tf.range(16):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = fn(tf.sigmoid(x))
                    loss = tf.reduce_sum(y * y)
                x = x - 0.01 * tape.gradient(loss, x)
            return x

        loop(x0).numpy()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            loop(x0).numpy()
            times.append((time.perf_counter() - started) / 16)
        t = statistics.median(times)
        print(f"     {name:52s} {t * 1e3:8.3f} ms  = {t / b:5.3f}x bare")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["digits", "mobilenet"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    plan = [("digits", bench.load_digits_model, 256, args.repeats),
            ("mobilenet", bench.build_mobilenet, 64, max(2, args.repeats // 2))]
    print(f"start: {load_line()}")
    for name, build, steps, repeats in plan:
        if args.only and args.only != name:
            continue
        print(f"\n== {name}")
        model = build()
        breakdown(model, steps, repeats)
        parts(model, repeats)
        print(f"  {load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
