"""Benchmark: amaxcheck's compiled ascent engine vs the tutorial eager loop vs bare forward+backward.

Run it (no network, CPU is fine)::

    .venv/bin/python benchmarks/bench_ascent.py            # both models, 3 interleaved repeats
    .venv/bin/python benchmarks/bench_ascent.py --quick    # fewer steps and repeats, a smoke run
    .venv/bin/python benchmarks/bench_ascent.py --jit      # add the engine with jit_compile=True

For two models, the digits example CNN (``examples/digits/digits_cnn.keras``,
10 classes x 4 restarts x 256 steps) and ``keras.applications.MobileNetV2(
weights=None, input_shape=(96, 96, 3), classes=10)`` (10 x 4 x 64 steps), it
prints seconds per synthesized image for:

* **engine**: ``amaxcheck.synthesize(model, "all", restarts=4, steps=S,
  progress=False, stop_plateau=None)`` (every sample runs every step, as the
  floor does), default settings otherwise (transforms, TV, Adam,
  best-iterate bookkeeping, final scoring: the whole call);
* **bare**: the floor, a ``tf.function`` computing only the gradient of the
  class scores w.r.t. a batch of 40 inputs (the engine's batch), timed per
  call and multiplied by the steps;
* **naive**: the usual tutorial loop, one class at a time, batch 1, eager
  ``tf.GradientTape`` in a Python loop, ``keras.optimizers.Adam``, sigmoid
  pixel parameterization. Timed on a subset (a few images x a few steps) and
  extrapolated to a full image; the output says so;
* **tf-keras-vis** ``ActivationMaximization`` if that package happens to be
  installed (it is not a dependency), timed the same way.

Tracing and warm-up are excluded everywhere: every contender runs once before
it is timed (the engine caches its compiled functions per model and settings).
Measurements are interleaved (engine, bare, naive, engine, ...) so that load
from other processes hits all of them alike; the table shows medians, and the
load average is printed before and after. Targets (issue 2): engine <= 1.3x
bare, naive >= 50x engine.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits" / "digits_cnn.keras"
N_CLASSES, RESTARTS = 10, 4
ENGINE_TARGET, NAIVE_TARGET = 1.3, 50.0


@dataclass
class Case:
    name: str
    build: Callable[[], object]
    steps: int
    naive_images: int  # images the naive loop is timed on
    naive_steps: int  # steps per timed naive image (extrapolated to `steps`)


@dataclass
class Timings:
    per_image: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, seconds_per_image: float) -> None:
        self.per_image.setdefault(name, []).append(seconds_per_image)

    def median(self, name: str) -> Optional[float]:
        values = self.per_image.get(name)
        return statistics.median(values) if values else None


# --------------------------------------------------------------------------- contenders
def time_engine(model, steps: int, jit: bool = False, transforms: object = "auto") -> float:
    """Seconds per synthesized image for one full synthesize() call (already traced)."""
    import amaxcheck

    started = time.perf_counter()
    # every sample runs every step (no plateau stop), so the engine is compared step for step with the floor
    result = amaxcheck.synthesize(model, "all", restarts=RESTARTS, steps=steps, progress=False, jit_compile=jit,
                                  transforms=transforms, stop_plateau=None)
    elapsed = time.perf_counter() - started
    assert len(result) == N_CLASSES * RESTARTS
    return elapsed / len(result)


def make_bare(model, batch: int, jit: bool = False):
    """A compiled function returning d(sum of target class scores)/d(input) for a batch."""
    import tensorflow as tf

    shape = tuple(model.input_shape[1:])

    @tf.function(jit_compile=jit)
    def grad(x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = model(x, training=False)
            total = tf.reduce_sum(tf.gather(scores, targets, axis=1, batch_dims=1))
        return tape.gradient(total, x)

    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (batch,) + shape).astype(np.float32))
    targets = tf.constant(np.repeat(np.arange(N_CLASSES), batch // N_CLASSES).astype(np.int32))
    grad(x, targets).numpy()  # trace + warm-up
    return grad, x, targets


def time_bare(bare, steps: int, calls: int) -> float:
    """Seconds per synthesized image if each of `steps` steps cost one bare call on the engine's batch."""
    grad, x, targets = bare
    started = time.perf_counter()
    for _ in range(calls):
        out = grad(x, targets)
    out.numpy()
    per_call = (time.perf_counter() - started) / calls
    return per_call * steps / int(x.shape[0])


def naive_ascent(model, cls: int, steps: int, seed: int) -> float:
    """The tutorial loop for one image; returns seconds per step (eager, batch 1)."""
    import keras
    import tensorflow as tf

    shape = tuple(model.input_shape[1:])
    tf.random.set_seed(seed)
    param = tf.Variable(tf.random.normal((1,) + shape, stddev=0.1))
    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    started = time.perf_counter()
    for _ in range(steps):
        with tf.GradientTape() as tape:
            image = tf.sigmoid(param)
            scores = model(image, training=False)
            loss = -scores[0, cls]
        grads = tape.gradient(loss, [param])
        optimizer.apply_gradients(zip(grads, [param]))
    param.numpy()
    return (time.perf_counter() - started) / steps


def time_naive(model, images: int, steps: int, full_steps: int, repeat: int) -> float:
    """Seconds per synthesized image, extrapolated from `images` images x `steps` steps."""
    per_step = [naive_ascent(model, (repeat + i) % N_CLASSES, steps, seed=repeat * 100 + i) for i in range(images)]
    return float(np.mean(per_step)) * full_steps


def tf_keras_vis_available() -> bool:
    try:
        import tf_keras_vis  # noqa: F401
        from tf_keras_vis.activation_maximization import ActivationMaximization  # noqa: F401
    except Exception:  # not installed, or incompatible with this Keras: skip silently
        return False
    return True


def time_tf_keras_vis(model, images: int, steps: int, full_steps: int) -> Optional[float]:
    """tf-keras-vis ActivationMaximization, one class at a time, extrapolated like the naive loop."""
    try:
        from tf_keras_vis.activation_maximization import ActivationMaximization
        from tf_keras_vis.utils.scores import CategoricalScore

        viz = ActivationMaximization(model, clone=True)
        per_step = []
        for i in range(images):
            started = time.perf_counter()
            viz(CategoricalScore([i % N_CLASSES]), steps=steps)
            per_step.append((time.perf_counter() - started) / steps)
        return float(np.mean(per_step)) * full_steps
    except Exception:
        return None


# --------------------------------------------------------------------------- models
def load_digits_model():
    import keras

    return keras.saving.load_model(DIGITS)


def build_mobilenet():
    import keras

    return keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)


def cases(quick: bool) -> list[Case]:
    if quick:
        return [Case("digits CNN 16x16x1", load_digits_model, 64, 1, 32),
                Case("MobileNetV2 96x96x3", build_mobilenet, 16, 1, 8)]
    return [Case("digits CNN 16x16x1", load_digits_model, 256, 2, 128),
            Case("MobileNetV2 96x96x3", build_mobilenet, 64, 2, 16)]


# --------------------------------------------------------------------------- main
def load_line() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unavailable"


def run_case(case: Case, repeats: int, jit: bool, with_vis: bool) -> Timings:
    model = case.build()
    batch = N_CLASSES * RESTARTS
    t = Timings()
    # warm-up: trace every compiled function once, outside the timings
    time_engine(model, min(case.steps, 32))
    jit_transforms: object = "auto"
    if jit:
        try:
            time_engine(model, min(case.steps, 32), jit=True)
        except Exception as exc:  # e.g. an op without an XLA kernel on this device
            first = str(exc).strip().splitlines()[0][:160]
            t.notes.append(f"jit_compile=True fails with the default transforms ({type(exc).__name__}: {first}); "
                           "'engine jit' and 'engine no-tf' below are both timed with transforms=None")
            jit_transforms = None
            time_engine(model, min(case.steps, 32), jit=True, transforms=None)
            time_engine(model, min(case.steps, 32), transforms=None)
    bare = make_bare(model, batch)
    bare_jit = make_bare(model, batch, jit=True) if jit else None
    naive_ascent(model, 0, 3, seed=0)
    calls = case.steps  # as many bare calls as the engine takes steps: same exposure to load bursts
    for r in range(repeats):
        t.add("engine", time_engine(model, case.steps))
        if jit:
            t.add("engine jit", time_engine(model, case.steps, jit=True, transforms=jit_transforms))
            if jit_transforms is None:
                t.add("engine no-tf", time_engine(model, case.steps, transforms=None))
        t.add("bare", time_bare(bare, case.steps, calls))
        if bare_jit is not None:
            t.add("bare jit", time_bare(bare_jit, case.steps, calls))
        t.add("naive", time_naive(model, case.naive_images, case.naive_steps, case.steps, r))
        if with_vis:
            v = time_tf_keras_vis(model, 1, case.naive_steps, case.steps)
            if v is not None:
                t.add("tf-keras-vis", v)
    t.notes.append(
        f"naive: timed on {case.naive_images} image(s) x {case.naive_steps} steps per repeat, "
        f"extrapolated to {case.steps} steps per image"
    )
    t.notes.append(f"bare: {calls} calls on a batch of {batch}, per-call time x {case.steps} steps / {batch} images")
    return t


def fmt(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke run)")
    parser.add_argument("--jit", action="store_true", help="also time jit_compile=True (engine and bare)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per contender (default 3, quick 1)")
    parser.add_argument("--only", choices=["digits", "mobilenet"], help="run one model only")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)

    import tensorflow as tf

    with_vis = tf_keras_vis_available()
    print(f"amaxcheck ascent benchmark: TensorFlow {tf.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}, devices {[d.device_type for d in tf.config.list_physical_devices()]}")
    print(f"start: {load_line()}; {repeats} interleaved repeat(s), medians shown")
    rows = []
    for case in cases(args.quick):
        if args.only and args.only not in case.name.lower():
            continue
        print(f"\n== {case.name}: {N_CLASSES} classes x {RESTARTS} restarts x {case.steps} steps", flush=True)
        t = run_case(case, repeats, args.jit, with_vis)
        names = [n for n in ("engine", "engine no-tf", "engine jit", "bare", "bare jit", "naive", "tf-keras-vis")
                 if n in t.per_image]
        width = max(len(n) for n in names)
        print(f"  {'':{width}}  {'s / image (median)':>18}  {'all runs':>30}")
        for n in names:
            runs = ", ".join(fmt(v) for v in t.per_image[n])
            print(f"  {n:{width}}  {fmt(t.median(n)):>18}  {runs:>30}")
        engine, bare, naive = t.median("engine"), t.median("bare"), t.median("naive")
        ratio, speedup = engine / bare, naive / engine
        best_ratio = min(t.per_image["engine"]) / min(t.per_image["bare"])
        print(f"  engine / bare   = {ratio:.2f}x medians, {best_ratio:.2f}x fastest runs   "
              f"(target <= {ENGINE_TARGET}x: {'met' if ratio <= ENGINE_TARGET else 'MISSED'})")
        print(f"  naive / engine  = {speedup:.0f}x   (target >= {NAIVE_TARGET:.0f}x: {'met' if speedup >= NAIVE_TARGET else 'MISSED'}; "
              f"the floor allows at most naive / bare = {naive / bare:.0f}x)")
        if "engine jit" in t.per_image:
            plain = t.median("engine no-tf") or engine
            print(f"  engine jit / engine{' no-tf' if 'engine no-tf' in t.per_image else ''} = "
                  f"{t.median('engine jit') / plain:.2f}x, "
                  f"engine jit / bare jit = {t.median('engine jit') / t.median('bare jit'):.2f}x, "
                  f"bare jit / bare = {t.median('bare jit') / bare:.2f}x")
        if "tf-keras-vis" in t.per_image:
            print(f"  tf-keras-vis / engine = {t.median('tf-keras-vis') / engine:.0f}x")
        for note in t.notes:
            print(f"  note: {note}")
        print(f"  {load_line()} after this model")
        rows.append((case.name, engine, bare, naive, ratio, speedup))
    print(f"\nend: {load_line()}")
    print("\nsummary (seconds per synthesized image, medians)")
    print(f"  {'model':22} {'engine':>10} {'bare':>10} {'naive*':>10} {'engine/bare':>12} {'naive/engine':>13}")
    for name, engine, bare, naive, ratio, speedup in rows:
        print(f"  {name:22} {fmt(engine):>10} {fmt(bare):>10} {fmt(naive):>10} {ratio:>11.2f}x {speedup:>12.0f}x")
    print("  * naive extrapolated from a subset of images and steps (see notes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
