"""Huge ``--steps`` (issue 13, item 3): one line naming the limit before TensorFlow loads, and an ascent whose
memory does not grow with the step count (random numbers drawn per chunk, history strided), with the same images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import amaxcheck
from amaxcheck.ascent.config import MAX_STEPS, AscentConfig
from amaxcheck.ascent.engine import MAX_HISTORY, _plan, _sample_rng, _Trace, engine_for, history_stride
from amaxcheck.ascent.transforms import N_RANDOM

from .test_cli_subprocess import amaxcheck as run_amaxcheck
from .test_output_safety import main_in_fresh_python

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "examples" / "digits" / "digits_cnn.keras")
BASELINE = Path(__file__).with_name("data") / "engine_noise_baseline.npz"


def test_huge_steps_is_one_line_naming_the_limit_before_tensorflow(tmp_path):
    proc = run_amaxcheck("gate", DIGITS, "--steps", "1000000000", cwd=tmp_path)
    expected = (f"amaxcheck: error: --steps 1000000000 is over amaxcheck's limit of {MAX_STEPS} steps per sample; "
                f"pass --steps {MAX_STEPS} or fewer (the default, 256, suits most models)")
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.strip().splitlines() == [expected]
    code, err, no_tf = main_in_fresh_python("gate", DIGITS, "--steps", "1000000000", cwd=tmp_path)
    assert code == 2 and no_tf and err.strip() == expected


def test_huge_steps_from_pyproject_names_the_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.amaxcheck]\nsteps = 2000000\n")
    code, err, no_tf = main_in_fresh_python("gate", DIGITS, cwd=tmp_path)
    assert code == 2 and no_tf
    assert err.strip() == (f"amaxcheck: error: steps = 2000000 in {tmp_path / 'pyproject.toml'} [tool.amaxcheck] is "
                           f"over amaxcheck's limit of {MAX_STEPS} steps per sample; set steps to {MAX_STEPS} or "
                           "fewer (the default, 256, suits most models)")


def test_images_are_bit_identical_to_before_noise_was_drawn_per_chunk(digits_model):
    """tests/data/engine_noise_baseline.npz was saved by the engine that drew all (samples, steps, 4) numbers up front.

    Two batches (max_batch=4 of 6 samples) and a short last chunk (40 = 16 + 16 + 8 steps).
    """
    r = amaxcheck.synthesize(digits_model, [0, 1], steps=40, restarts=3, check_every=16, max_batch=4, seed=3,
                             progress=False)
    before = np.load(BASELINE)
    # exact when run alone; a compiled graph traced earlier for other batch shapes can differ in the last bit (as
    # in test_engine's batching test), while a different random stream would change the images entirely
    np.testing.assert_allclose(r.images, before["images"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(r.history, before["history"], rtol=0, atol=1e-5)
    assert r.settings["history_stride"] == 1


def test_a_100k_step_plan_holds_no_per_step_arrays(digits_model):
    config = AscentConfig(steps=100_000, restarts=4)
    plan = _plan(engine_for(digits_model, config), list(range(10)), config)
    plan_bytes = sum(a.nbytes for a in (plan.classes, plan.restarts, plan.params0))
    assert plan_bytes < 100_000, plan_bytes  # 40 starts of 16x16: no (samples, steps, 4) noise any more
    trace = _Trace.empty(plan.params0, config.steps)
    assert trace.stride == history_stride(100_000) == 25 and trace.history.shape == (40, 4000)
    assert trace.history.nbytes <= 40 * MAX_HISTORY * 4
    one_shot = _sample_rng(0, 0, 0)
    engine_for(digits_model, config).param.init(one_shot, (16, 16, 1))
    chunks = np.concatenate([plan.noise_of(np.array([0]), k)[0] for k in (7, 64, 1)])
    np.testing.assert_array_equal(chunks, one_shot.uniform(-1.0, 1.0, (72, N_RANDOM)).astype(np.float32))


def test_strided_history_records_every_stride_th_step_across_uneven_chunks():
    steps = 10_000
    trace = _Trace.empty(np.zeros((2, 1), np.float32), steps)
    assert trace.stride == 3 and trace.history.shape == (2, 3334)
    done = 0
    for k in [5, 7, 1, 64, 2] * 100 + [steps]:
        k = min(k, steps - done)
        if k <= 0:
            break
        trace.record(slice(0, 2), done, np.tile(np.arange(done, done + k, dtype=np.float32), (2, 1)))
        done += k
    np.testing.assert_array_equal(trace.history, np.tile(np.arange(0, steps, 3, dtype=np.float32), (2, 1)))
    assert history_stride(MAX_HISTORY) == 1 and history_stride(MAX_HISTORY + 1) == 2
