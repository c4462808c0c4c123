"""Where the engine's time goes beyond the bare forward+backward, and what the proposed fixes buy.

    .venv/bin/python benchmarks/profile_ascent.py [--only digits|mobilenet] [--repeats N]

A developer tool next to ``bench_ascent.py`` (same models, batch 40). For each
model it prints:

1. **breakdown** of one default ``amaxcheck.synthesize`` call: the compiled
   chunk loop, the per-chunk ``evaluate`` (best iterate), the eager gradient
   probe, the eager final probabilities, and the rest (Python, eager
   bookkeeping), each as a multiple of the bare cost of the same steps;
2. **in-loop parts**: forward+backward cost per step of the random transforms
   (one ``ImageProjectiveTransformV3`` warp) and of total variation written
   with strided slices (as in ``objectives.total_variation_per_sample``) or
   with ``tf.slice``;
3. **A/B of the proposed changes**, applied by monkeypatching (nothing in
   ``amaxcheck/`` is edited): TV through ``tf.slice``, the final probabilities
   through a compiled forward, and the gradient probe once per model, not once
   per call. It reports whether the images change and the engine/bare ratio.

It patches private internals (``engine.check_gradient_path``,
``objectives.total_variation_per_sample``, ``ModelAdapter.probabilities``),
so it tracks the engine's code and may need updating when that changes.
Timings are noisy on a shared machine: read medians and the printed load.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
import weakref
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ascent as bench  # noqa: E402

BATCH = bench.N_CLASSES * bench.RESTARTS


def load_line() -> str:
    return bench.load_line()


# --------------------------------------------------------------------------- proposed code
def tv_via_slice(unit):
    """``objectives.total_variation_per_sample`` with ``tf.slice`` instead of strided slicing (same values)."""
    import tensorflow as tf

    from amaxcheck import objectives

    if unit.shape.rank != 4:
        return _ORIGINAL["tv"](unit)
    h, w = unit.shape[1], unit.shape[2]
    dy = tf.abs(tf.slice(unit, [0, 1, 0, 0], [-1, h - 1, -1, -1]) - tf.slice(unit, [0, 0, 0, 0], [-1, h - 1, -1, -1]))
    dx = tf.abs(tf.slice(unit, [0, 0, 1, 0], [-1, -1, w - 1, -1]) - tf.slice(unit, [0, 0, 0, 0], [-1, -1, w - 1, -1]))
    return 0.5 * (objectives._spatial_mean(dy) + objectives._spatial_mean(dx))


_ORIGINAL: dict = {}
_probed: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def probe_once(adapter, x_raw):
    """The gradient probe, run once per model (its answer cannot change while the weights are frozen)."""
    if adapter.model not in _probed:
        _ORIGINAL["probe"](adapter, x_raw)
        _probed[adapter.model] = True


def probabilities_compiled(self, images, batch_size=256):
    """``ModelAdapter.probabilities`` through a ``tf.function`` forward (single-output models only here)."""
    import tensorflow as tf

    fn = _compiled.get(self.model)
    if fn is None:
        fn = _compiled[self.model] = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
    out = [fn(tf.constant(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    probs = tf.concat(out, 0)
    if self.score_kind == "logits":
        probs = tf.nn.softmax(probs, axis=-1)
    return probs.numpy().astype(np.float32)


def patch(on: bool) -> None:
    from amaxcheck import engine, model_adapter, objectives

    if not _ORIGINAL:
        _ORIGINAL.update(tv=objectives.total_variation_per_sample, probe=engine.check_gradient_path,
                         probs=model_adapter.ModelAdapter.probabilities)
    objectives.total_variation_per_sample = tv_via_slice if on else _ORIGINAL["tv"]
    engine.check_gradient_path = probe_once if on else _ORIGINAL["probe"]
    model_adapter.ModelAdapter.probabilities = probabilities_compiled if on else _ORIGINAL["probs"]


# --------------------------------------------------------------------------- measurements
def synth(model, steps):
    import amaxcheck

    return amaxcheck.synthesize(model, "all", restarts=bench.RESTARTS, steps=steps, progress=False)


def bare_seconds(bare, steps):
    grad, x, targets = bare
    started = time.perf_counter()
    for _ in range(steps):
        out = grad(x, targets)
    out.numpy()
    return time.perf_counter() - started


def breakdown(model, steps, repeats):
    """Seconds spent in each part of synthesize(), summed over `repeats` calls, and the bare cost."""
    from amaxcheck import engine, model_adapter

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

    saved = (eng.run_chunk, eng.evaluate, engine.check_gradient_path, model_adapter.ModelAdapter.probabilities)
    eng.run_chunk = timed("compiled chunk loop", eng.run_chunk, True)
    eng.evaluate = timed("evaluate per chunk (best iterate)", eng.evaluate, True)
    engine.check_gradient_path = timed("gradient probe (eager)", engine.check_gradient_path, False)
    model_adapter.ModelAdapter.probabilities = timed("final probabilities (eager)", saved[3], False)
    bare = bench.make_bare(model, BATCH)
    total, bare_total = 0.0, []
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            synth(model, steps)
            total += time.perf_counter() - started
            bare_total.append(bare_seconds(bare, steps))
    finally:
        eng.run_chunk, eng.evaluate, engine.check_gradient_path, model_adapter.ModelAdapter.probabilities = saved
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
    from amaxcheck.transforms import Transforms, apply_transforms

    shape = tuple(model.input_shape[1:])
    rng = np.random.default_rng(0)
    x0 = tf.constant(rng.normal(0, 0.1, (BATCH,) + shape).astype(np.float32))
    u = tf.constant(rng.uniform(-1, 1, (BATCH, 4)).astype(np.float32))
    spec = Transforms.auto(shape)
    candidates = {
        f"transforms {spec}": lambda y: apply_transforms(y, u, spec, shape),
        "TV, strided slices (current)": lambda y: _ORIGINAL.get("tv", objectives.total_variation_per_sample)(y)[:, None, None, None] + y,
        "TV, tf.slice (proposed)": lambda y: tv_via_slice(y)[:, None, None, None] + y,
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


def ab(build, steps, repeats):
    """The engine as it is vs with the proposed changes, on two copies of one model (fresh engines each)."""
    current = build()
    proposed = build()
    proposed.set_weights(current.get_weights())
    patch(False)
    a = synth(current, steps)
    patch(True)
    try:
        p = synth(proposed, steps)
    finally:
        patch(False)
    diff = float(np.abs(a.images - p.images).max())
    bare = bench.make_bare(current, BATCH)
    runs = {"current": [], "proposed": [], "bare": []}
    for _ in range(repeats):
        for name, model, on in (("current", current, False), ("proposed", proposed, True)):
            patch(on)
            try:
                started = time.perf_counter()
                synth(model, steps)
                runs[name].append(time.perf_counter() - started)
            finally:
                patch(False)
        runs["bare"].append(bare_seconds(bare, steps))
    b = statistics.median(runs["bare"])
    print(f"  3. A/B, {repeats} interleaved runs of {steps} steps (largest image difference {diff:.2e}; "
          "0 means bit-identical):")
    for name in ("current", "proposed"):
        print(f"     {name:9s} engine / bare = {statistics.median(runs[name]) / b:.2f}x (median), "
              f"{min(runs[name]) / min(runs['bare']):.2f}x (fastest runs)")


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
        patch(False)  # record the originals
        model = build()
        breakdown(model, steps, repeats)
        parts(model, repeats)
        ab(build, steps, repeats)
        print(f"  {load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
