"""The ascent engine: contract, determinism, parameterizations, objectives, and every bad input."""
from __future__ import annotations

import numpy as np
import pytest

import amaxcheck
from amaxcheck import objectives as O
from amaxcheck.errors import (AscentDivergedError, ClassSelectionError, ConfigError, ModelError,
                              NoGradientError)

from . import models as M

FAST = dict(steps=32, restarts=2, progress=False)


# ----------------------------------------------------------------------------- contract
def test_result_is_class_major_in_raw_range_with_real_model_probabilities(digits_model, digits_labels):
    r = amaxcheck.synthesize(digits_model, [2, 7], labels=digits_labels, **FAST)
    assert r.images.shape == (4, 16, 16, 1) and r.images.dtype == np.float32
    assert r.classes.tolist() == [2, 2, 7, 7] and r.restarts.tolist() == [0, 1, 0, 1]
    assert 0.0 <= r.images.min() and r.images.max() <= 1.0
    np.testing.assert_allclose(r.probabilities, digits_model.predict(r.images, verbose=0), atol=1e-5)
    assert r.history.shape == (4, 32) and np.isfinite(r.history).all()
    assert r.settings["seed"] == 0 and r.settings["steps"] == 32
    assert r.for_class("7").index == 7 and r.for_class(7).images.shape == (2, 16, 16, 1)
    assert r.logits_source.startswith('pre-softmax output of Dense layer "probs"')
    assert r.model_fingerprint == amaxcheck.synthesize(digits_model, [2], **FAST).model_fingerprint


def test_default_ascent_makes_every_digit_confident(digits_model):
    r = amaxcheck.synthesize(digits_model, restarts=2, progress=False)
    assert r.target_probability.min() > 0.9, r.target_probability


def test_same_seed_gives_bit_identical_images_and_batching_does_not_matter(digits_model):
    a = amaxcheck.synthesize(digits_model, [1, 3], **FAST)
    b = amaxcheck.synthesize(digits_model, [1, 3], **FAST)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.probabilities, b.probabilities)
    other = amaxcheck.synthesize(digits_model, [1, 3], **{**FAST, "seed": 1})
    assert not np.array_equal(a.images, other.images)
    alone = amaxcheck.synthesize(digits_model, [3], **FAST)  # class 3 alone, different batch
    np.testing.assert_allclose(alone.images, a.images[2:], atol=1e-5)
    split = amaxcheck.synthesize(digits_model, [1, 3], max_batch=1, **FAST)
    np.testing.assert_allclose(split.images, a.images, atol=1e-5)


def test_model_is_not_modified(digits_model):
    before = M.weights_of(digits_model)
    config = digits_model.get_config()
    amaxcheck.synthesize(digits_model, [0], **FAST)
    assert all(np.array_equal(x, y) for x, y in zip(before, M.weights_of(digits_model)))
    assert digits_model.get_config() == config
    assert digits_model.layers[-1].activation.__name__ == "softmax"


def test_early_stop_keeps_best_iterate_and_records_steps(digits_model):
    r = amaxcheck.synthesize(digits_model, [0, 1], steps=128, restarts=1, stop_at=0.5, check_every=8, progress=False)
    assert (r.steps_run < 128).all()
    assert np.isnan(r.history[0, r.steps_run[0]:]).all()
    assert (r.target_probability >= 0.5).all()


def test_plateau_stop_ends_samples_that_stopped_rising_and_keeps_their_best(digits_model):
    full = amaxcheck.synthesize(digits_model, [0, 1], steps=256, restarts=1, stop_plateau=None, progress=False)
    assert (full.steps_run == 256).all()
    r = amaxcheck.synthesize(digits_model, [0, 1], steps=256, restarts=1, stop_plateau=32, progress=False)
    assert (r.steps_run < 256).all() and (r.steps_run % 16 == 0).all()  # a trained digit saturates at p = 1 early
    np.testing.assert_array_equal(r.history[:, :8], full.history[:, :8])  # the same ascent until it stops
    assert (r.target_probability > 0.99).all()
    assert amaxcheck.AscentConfig().stop_plateau == 64  # on by default


def test_stopped_samples_leave_the_batch_and_the_others_ascend_unchanged(digits_model):
    """Early stop saves work: later chunks run on the live samples only, whose steps do not change."""
    from amaxcheck.ascent.engine import engine_for

    config = amaxcheck.AscentConfig(steps=160, restarts=2, stop_at=0.999, check_every=16)
    engine = engine_for(digits_model, config)
    batches: list[int] = []
    original = engine.run_chunk

    def recording(params, *args):
        batches.append(int(params.shape[0]))
        return original(params, *args)

    engine.run_chunk = recording
    try:
        r = amaxcheck.synthesize(digits_model, [0, 3, 5, 8], config=config, progress=False)
    finally:
        del engine.run_chunk
    full = amaxcheck.synthesize(digits_model, [0, 3, 5, 8], config=config.replace(stop_at=None, stop_plateau=None),
                                progress=False)
    assert batches[0] == 8 and batches == sorted(batches, reverse=True) and batches[-1] < 8
    assert sum(batches) * 16 >= int(r.steps_run.sum()) and (r.steps_run < 160).any()
    for i, ran in enumerate(r.steps_run):  # each sample's objective, step for step, as in the run without stops
        np.testing.assert_allclose(r.history[i, :ran], full.history[i, :ran], rtol=1e-5, atol=1e-5)


def test_progress_bar_is_written_when_asked(digits_model, capsys):
    amaxcheck.synthesize(digits_model, [0], steps=16, restarts=1, progress=True)
    assert "16/16" in capsys.readouterr().err


# ----------------------------------------------------------------------------- input ranges
def test_0_255_model_with_internal_rescaling(digits_model):
    import keras

    wrapped = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Rescaling(1 / 255.0), digits_model])
    r = amaxcheck.synthesize(wrapped, [4], input_range=(0, 255), **FAST)
    assert r.images.max() > 1.5 and r.images.max() <= 255 and r.images.min() >= 0
    assert r.target_probability.min() > 0.5
    assert "probabilities" in r.logits_source  # nested model: no bypassable softmax, says so


def test_preprocess_runs_in_graph(digits_model):
    r = amaxcheck.synthesize(digits_model, [5], input_range=(0, 255), preprocess=lambda x: x / 255.0, **FAST)
    assert r.images.max() > 1.5
    assert r.settings["preprocess"] == "<lambda>"


# ----------------------------------------------------------------------------- heads & shapes
@pytest.mark.parametrize("head, source", [
    ("dense_softmax", "pre-softmax output of Dense"),
    ("activation_softmax", 'input of Activation("softmax")'),
    ("softmax_layer", "input of Softmax layer"),
    ("logits", "already logits"),
])
def test_logits_are_read_before_the_softmax(head, source):
    model = M.tiny_cnn(head=head)
    r = amaxcheck.synthesize(model, [1], steps=8, restarts=1, progress=False)
    assert source in r.logits_source
    np.testing.assert_allclose(r.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_subclassed_model_falls_back_to_log_probabilities_and_says_so():
    model = M.SubclassedNet()
    model(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ModelError, match="input_shape"):
        amaxcheck.synthesize(model, [0], steps=4, restarts=1, progress=False)
    r = amaxcheck.synthesize(model, [0], input_shape=(8, 8, 1), steps=8, restarts=1, progress=False)
    assert "log of the model's probabilities" in r.logits_source


def test_fourier_parameterization_on_rgb_and_gray(digits_model):
    rgb = amaxcheck.synthesize(M.tiny_cnn(), [0], parameterization="fourier", steps=8, restarts=1, progress=False)
    assert rgb.images.shape == (1, 12, 12, 3)
    gray = amaxcheck.synthesize(digits_model, [0], parameterization="fourier", **FAST)
    assert gray.target_probability.min() > 0.5
    with pytest.raises(ModelError, match="needs image inputs"):
        amaxcheck.synthesize(M.tabular_model(), [0], parameterization="fourier", steps=4, restarts=1, progress=False)


def test_tabular_inputs():
    r = amaxcheck.synthesize(M.tabular_model(), "all", steps=16, restarts=1, progress=False)
    assert r.images.shape == (3, 20)


def test_multi_input_and_multi_output_models():
    model = M.multi_io_model()
    with pytest.raises(ModelError, match="2 inputs"):
        amaxcheck.synthesize(model, [0], steps=4, restarts=1, progress=False)
    with pytest.raises(ModelError, match="fixed_inputs"):
        amaxcheck.synthesize(model, [0], input="image", output="cls", steps=4, restarts=1, progress=False)
    with pytest.raises(ModelError, match=r"2 outputs \['cls', 'box'\]"):
        amaxcheck.synthesize(model, [0], input="image", fixed_inputs={"meta": np.zeros(3)}, steps=4, restarts=1,
                             progress=False)
    r = amaxcheck.synthesize(model, [0, 3], input="image", output="cls", fixed_inputs={"meta": np.ones(3)},
                             steps=8, restarts=1, progress=False)
    assert r.images.shape == (2, 8, 8, 1)
    with pytest.raises(ModelError, match="did you mean 'cls'"):
        amaxcheck.synthesize(model, [0], input="image", output="clz", fixed_inputs={"meta": np.ones(3)},
                             steps=4, restarts=1, progress=False)


# ----------------------------------------------------------------------------- objectives
def test_objectives_compose_and_print_like_code():
    obj = O.class_logit(3) - 0.1 * O.total_variation() + 0.5 * O.l2()
    assert repr(obj) == "class_logit(3) - 0.1*total_variation() + 0.5*l2()"
    assert repr(-O.class_log_prob()) == "-class_log_prob()"
    with pytest.raises(TypeError, match="scaled by numbers"):
        O.class_logit() * O.l1()


def test_channel_objective_raises_that_channel(digits_model):
    conv = digits_model.layers[0].name
    import keras

    probe = keras.Model(digits_model.inputs, digits_model.layers[0].output)
    r = amaxcheck.synthesize(digits_model, [0], objective=O.channel(conv, 5), transforms=None, **FAST)
    start = probe({"image": r.initial_images})[..., 5].numpy().mean()
    end = probe({"image": r.images})[..., 5].numpy().mean()
    assert end > start + 0.1
    r2 = amaxcheck.synthesize(digits_model, [0], objective=O.neuron("dense", 3) + O.custom(
        lambda ctx: -ctx.unit_image[:, 0, 0, 0], name="dark_corner"), **FAST)
    assert np.isfinite(r2.history).all()
    with pytest.raises(ModelError, match="no layer named 'convv'"):
        amaxcheck.synthesize(digits_model, [0], objective=O.channel("convv", 0), **FAST)


# ----------------------------------------------------------------------------- bad input
def test_class_index_out_of_range_names_the_valid_range(digits_model):
    with pytest.raises(ClassSelectionError, match=r"class index 99 is out of range.*0\.\.9"):
        amaxcheck.synthesize(digits_model, [99], **FAST)


def test_unknown_label_suggests_close_names(digits_model):
    labels = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    with pytest.raises(ClassSelectionError, match=r"unknown label 'sevn'.*seven"):
        amaxcheck.synthesize(digits_model, ["sevn"], labels=labels, **FAST)
    with pytest.raises(ClassSelectionError, match="no labels were given"):
        amaxcheck.synthesize(digits_model, ["seven"], **FAST)
    with pytest.raises(ClassSelectionError, match="labels has 3 names but the model has 10"):
        amaxcheck.synthesize(digits_model, [0], labels=["a", "b", "c"], **FAST)


def test_integer_inputs_are_refused_with_the_fix():
    with pytest.raises(ModelError, match=r"dtype int32.*Embedding|embedding"):
        amaxcheck.synthesize(M.integer_input_model(), [0], **FAST)


def test_no_gradient_path_names_the_layer_that_cuts_it():
    with pytest.raises(NoGradientError, match='"cut_here"'):
        amaxcheck.synthesize(M.no_gradient_model(), [0], **FAST)


def test_a_cut_in_preprocess_is_named():
    import tensorflow as tf

    def rounding(x):
        return tf.round(x)

    with pytest.raises(NoGradientError, match=r"no differentiable path.*\"preprocess"):
        amaxcheck.synthesize(M.tiny_cnn(shape=(8, 8, 1)), [0], preprocess=rounding, **FAST)


def test_dead_activations_everywhere_are_told_apart_from_a_cut_path():
    with pytest.raises(NoGradientError, match=r"zero at all \d+ probed inputs.*\"dead_conv\".*dead ReLUs.*input_range"):
        amaxcheck.synthesize(M.dead_relu_model(), [0], **FAST)


def test_relus_off_only_at_the_starting_points_are_not_a_missing_path():
    result = amaxcheck.synthesize(M.off_at_mid_grey_model(), [0, 1], **FAST)
    assert np.isfinite(result.images).all()


def test_nan_during_ascent_stops_and_reports_the_samples_without_losing_the_rest():
    with pytest.raises(AscentDivergedError, match=r"NaN/Inf for \d+ sample") as info:
        amaxcheck.synthesize(M.nan_model(), [0, 1], steps=64, restarts=1, transforms=None, learning_rate=0.5,
                             progress=False)
    err = info.value
    assert err.samples and all(len(s) == 3 for s in err.samples)
    assert np.isfinite(err.result.images).all() and len(err.result) == 2


def test_multi_output_without_choice_lists_outputs():
    with pytest.raises(ModelError, match="pick the class-score output"):
        amaxcheck.synthesize(M.multi_io_model(), [0], input="image", fixed_inputs={"meta": np.zeros(3)}, **FAST)


@pytest.mark.parametrize("factory, message", [
    (M.video_model, "wrong input rank"),
    (M.undefined_size_model, "undefined dimensions"),
    (M.single_softmax_unit_model, "softmax over a single unit"),
])
def test_unusable_shapes_are_explained(factory, message):
    with pytest.raises(ModelError, match=message):
        amaxcheck.synthesize(factory(), [0], **FAST)


def test_not_a_keras_model():
    with pytest.raises(ModelError, match="expected a keras.Model, got builtins.dict"):
        amaxcheck.synthesize({"weights": 1}, [0], **FAST)


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_range=(1, 0)), "lo < hi"),
    (dict(input_range="0-1"), "two numbers"),
    (dict(restarts=0), "restarts must be an integer >= 1"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(steps=10**9), r"steps must be an integer >= 1 and <= 1000000"),
    (dict(input_range=(0, 1e308)), "does not fit in float32"),
    (dict(tv_weight=-1), "tv_weight must be a number >= 0"),
    (dict(preprocess="scale"), "preprocess must be a callable"),
    (dict(stop_at=1.5), "stop_at"),
    (dict(stop_plateau=0), "stop_plateau"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(parameterization="wavelet"), "unknown parameterization"),
    (dict(transforms="lots"), "transforms must be"),
    (dict(objective="logit"), "objective must be an amaxcheck Objective"),
    (dict(jit_compile=True), "jit_compile=True cannot compile the random warp"),
])
def test_bad_settings_are_refused(digits_model, kwargs, message):
    settings = {**FAST, **kwargs}
    with pytest.raises(ConfigError, match=message):
        amaxcheck.synthesize(digits_model, [0], **settings)


def test_jit_compile_runs_without_the_warp_and_matches_the_default_loop(digits_model):
    plain = amaxcheck.synthesize(digits_model, [4], transforms=None, **FAST)
    jit = amaxcheck.synthesize(digits_model, [4], transforms=None, jit_compile=True, **FAST)
    # XLA fuses differently: close, not bit-identical
    np.testing.assert_allclose(jit.images, plain.images, atol=0.05)
    assert jit.settings["jit_compile"] is True


def test_settings_that_are_loop_inputs_share_one_trace(digits_model):
    """Steps, seed, learning rate and the objective's numbers (tv_weight, a composed objective's weights) are inputs
    of the compiled loop: eight such runs trace once, and a weight still changes the images as it should."""
    from amaxcheck import _cache
    from amaxcheck.ascent.engine import engine_for

    _cache.clear()
    runs = [dict(steps=32, tv_weight=0.0), dict(steps=32, tv_weight=0.05), dict(steps=32, tv_weight=0.5),
            dict(steps=16, seed=3, tv_weight=0.2, learning_rate=0.1)]
    results = [amaxcheck.synthesize(digits_model, classes=[1], restarts=1, progress=False, **kw) for kw in runs]
    composed = [O.class_log_prob() - w * O.total_variation() + 0.5 * O.l2() for w in (0.01, 0.3)]
    results += [amaxcheck.synthesize(digits_model, classes=[1], restarts=1, steps=16, progress=False, objective=obj)
                for obj in composed]
    engine = engine_for(digits_model, amaxcheck.AscentConfig())
    assert engine._compiled_chunk.experimental_get_tracing_count() == 1
    other = engine_for(digits_model, amaxcheck.AscentConfig(objective=composed[0]))
    assert other is not engine and other._compiled_chunk.experimental_get_tracing_count() == 1
    tv = [float(np.abs(np.diff(r.best_images(), axis=1)).mean()) for r in results[:3]]
    assert tv[2] < tv[1] < tv[0]  # a heavier total-variation weight gives a smoother image, through the same graph
    again = amaxcheck.synthesize(digits_model, classes=[1], restarts=1, progress=False, **runs[2])
    np.testing.assert_array_equal(again.images, results[2].images)


def test_the_chunk_traces_without_autograph_and_falls_back_to_it_for_python_branches(digits_model):
    """The loop is an explicit tf.while_loop, traced without autograph (most of the trace time); an objective
    that branches on a tensor in Python needs autograph's conversion, and gets it."""
    import tensorflow as tf

    from amaxcheck.ascent.engine import engine_for

    def branchy(ctx):
        score = tf.gather(ctx.log_probs, ctx.targets, axis=1, batch_dims=1)
        if tf.reduce_mean(score) > 0.0:  # never true for a log-probability; a Python `if` on a tensor all the same
            return score * 0.0
        return score

    objective = O.custom(branchy, name="branchy")
    r = amaxcheck.synthesize(digits_model, [4], objective=objective, steps=48, restarts=1, progress=False)
    plain = amaxcheck.synthesize(digits_model, [4], objective=O.class_log_prob(), steps=48, restarts=1,
                                 progress=False)
    np.testing.assert_allclose(r.images, plain.images, atol=1e-5)  # the same ascent, converted
    converted = engine_for(digits_model, r.config)._compiled_chunk
    assert converted._autograph and not engine_for(digits_model, plain.config)._compiled_chunk._autograph
