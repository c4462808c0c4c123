"""The foundation: one validated AscentConfig, one cache that never keeps a model alive, plain-data results.

Regression tests for the defects the foundation issue names (each failed on 0.1):
a different custom objective reused the first one's compiled engine; the engine
cache kept every model alive; the reason cut-off ignored ``max_degeneracy``;
``channel(layer, 99)`` surfaced TensorFlow's own error.
"""
from __future__ import annotations

import gc
import pickle
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import amaxcheck
from amaxcheck import _cache
from amaxcheck import defaults as D
from amaxcheck.ascent.config import AscentConfig
from amaxcheck.ascent.parameterization import Fourier, Pixel
from amaxcheck.errors import ArgumentTypeError, ConfigError, ModelError
from amaxcheck.objectives import channel, class_log_prob, custom, total_variation
from amaxcheck.verdict.report import ClassReport

from . import models as M

FAST = dict(steps=32, restarts=2, progress=False)


def _bright(ctx):
    return tf.reduce_mean(ctx.unit_image, axis=[1, 2, 3])


def _dark(ctx):
    return -tf.reduce_mean(ctx.unit_image, axis=[1, 2, 3])


def _copy_of(model):
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


# --------------------------------------------------------------------------- the config
def test_config_is_a_validated_hashable_value_keyed_by_the_objective_itself():
    bright = class_log_prob() + 20 * custom(_bright)
    dark = class_log_prob() + 20 * custom(_dark)
    a, b = AscentConfig(objective=bright), AscentConfig(objective=dark)
    assert a != b and hash(a) != hash(b)
    assert AscentConfig(objective=class_log_prob() - 0.05 * total_variation()) == \
        AscentConfig(objective=class_log_prob() - 0.05 * total_variation())
    assert AscentConfig(parameterization="fourier") == AscentConfig(parameterization=Fourier())
    # settings that do not shape the graph share one compiled engine
    assert AscentConfig(steps=32, seed=4, restarts=1).graph_key() == AscentConfig().graph_key()
    assert AscentConfig(objective=bright).graph_key() != AscentConfig(objective=dark).graph_key()


def test_config_defaults_come_from_one_place_and_print_as_code():
    config = AscentConfig()
    assert (config.steps, config.restarts, config.seed, config.learning_rate) == \
        (D.STEPS, D.RESTARTS, D.SEED, D.LEARNING_RATE)
    assert config.parameterization == Pixel()
    assert repr(AscentConfig()) == "AscentConfig()"
    derived = config.replace(steps=32, parameterization="fourier")
    assert repr(derived) == "AscentConfig(steps=32, parameterization='fourier')"
    assert eval(repr(derived), {"AscentConfig": AscentConfig}) == derived
    settings = derived.as_dict()
    assert settings["steps"] == 32 and settings["parameterization"] == "fourier"
    assert settings["objective"] == "class_log_prob() - 0.05*total_variation()"


@pytest.mark.parametrize("changes, error, message", [
    (dict(steps=0), ConfigError, "steps must be an integer >= 1"),
    (dict(steps=10**9), ConfigError, "<= 1000000"),
    (dict(restarts=True), ConfigError, "restarts must be an integer"),
    (dict(input_range=(0, 1e39)), ConfigError, "does not fit in float32"),
    (dict(stop_at=0), ConfigError, r"stop_at must be a probability in \(0, 1\]"),
    (dict(objective=lambda ctx: ctx.logits), ArgumentTypeError, "objective must be an amaxcheck Objective"),
    (dict(parameterization=object()), ArgumentTypeError, "parameterization must be"),
    (dict(fixed_inputs=[1, 2]), ArgumentTypeError, "fixed_inputs must be a mapping"),
    (dict(stepz=3), ConfigError, "no setting"),
])
def test_config_refuses_bad_settings_naming_them(changes, error, message):
    with pytest.raises(error, match=message):
        AscentConfig().replace(**changes)


def test_config_and_keywords_give_the_same_images(digits_model):
    config = AscentConfig(steps=32, restarts=2, seed=3)
    by_config = amaxcheck.synthesize(digits_model, [1], config=config, progress=False)
    by_keywords = amaxcheck.synthesize(digits_model, [1], steps=32, restarts=2, seed=3, progress=False)
    assert np.array_equal(by_config.images, by_keywords.images)
    overridden = amaxcheck.synthesize(digits_model, [1], config=config, seed=4, progress=False)
    assert overridden.config == config.replace(seed=4)


def test_hypothesis_settings_and_the_config_are_one_type():
    from amaxcheck.strategies import AscentSettings

    assert AscentSettings is AscentConfig


# --------------------------------------------------------------------------- defect 1: the engine key
def test_a_different_custom_objective_runs_its_own_engine(digits_model):
    bright = amaxcheck.synthesize(digits_model, [0], objective=class_log_prob() + 20 * custom(_bright), **FAST)
    dark = amaxcheck.synthesize(digits_model, [0], objective=class_log_prob() + 20 * custom(_dark), **FAST)
    # 0.1 returned identical images for both (mean 0.823): the second reused the first's compiled engine.
    assert bright.images.mean() > dark.images.mean() + 0.15


def test_settings_outside_the_graph_reuse_one_engine(digits_model):
    amaxcheck.synthesize(digits_model, [2], **FAST)
    before = _cache.ENGINES.of(digits_model).info()
    amaxcheck.synthesize(digits_model, [2, 3], steps=16, restarts=1, seed=9, learning_rate=0.1, progress=False)
    after = _cache.ENGINES.of(digits_model).info()
    assert after["misses"] == before["misses"] and after["hits"] > before["hits"]


def test_the_control_is_cached_by_the_objective_value(digits_model):
    results = [amaxcheck.synthesize(digits_model, [0], objective=class_log_prob() + k * custom(_bright), **FAST)
               for k in (5.0, 20.0)]
    keys_before = len(_cache.CONTROLS)
    for r in results:
        amaxcheck.check(r, digits_model)
    assert len(_cache.CONTROLS) == keys_before + 2


# --------------------------------------------------------------------------- defect 2: models are let go
def _synthesize_and_check_on_a_fresh_copy(model) -> weakref.ref:
    copy = _copy_of(model)
    result = amaxcheck.synthesize(copy, [0], steps=16, restarts=1, progress=False)
    amaxcheck.check(result, copy)
    _cache.cached_synthesize(copy, [1], AscentConfig(steps=16, restarts=1))
    return weakref.ref(copy)


def test_no_cache_keeps_a_model_alive(digits_model):
    refs = [_synthesize_and_check_on_a_fresh_copy(digits_model) for _ in range(3)]
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_the_pytest_session_cache_and_strategies_cache_hold_no_model(digits_model):
    from amaxcheck import strategies
    from amaxcheck.pytest_plugin import SynthesisCache

    cache = SynthesisCache({"steps": 16, "restarts": 1})
    copy = _copy_of(digits_model)
    first = cache.synthesize(copy, [0])
    assert cache.synthesize(copy, [0]) is first and (cache.runs, cache.hits) == (1, 1)
    strategies.cached_synthesize(copy, [0], AscentConfig(steps=16, restarts=1))
    ref = weakref.ref(copy)
    del copy
    gc.collect()
    assert ref() is None
    assert first.model is None  # the result remembered its model weakly


# --------------------------------------------------------------------------- plain-data results
def test_results_are_plain_data_that_pickle_and_compare(digits_model):
    result = amaxcheck.synthesize(digits_model, [0, 1], **FAST)
    assert result.model is digits_model
    again = pickle.loads(pickle.dumps(result))
    assert again == result and again.model is None and again.config == result.config
    assert again != result.subset(result.classes == 0)
    # check() on an unpickled result uses the model it is given
    report = amaxcheck.check(again, digits_model, verdict=False)
    assert [c.index for c in report.classes] == [0, 1]


# --------------------------------------------------------------------------- class reasons follow the class verdict
@pytest.mark.parametrize("max_degeneracy", [0.3, 0.5])
def test_every_degenerate_class_gets_a_reason_at_any_threshold(max_degeneracy):
    untrained = M.tiny_cnn(shape=(12, 12, 1), n_classes=4, seed=1)
    result = amaxcheck.synthesize(untrained, "all", **FAST)
    report = amaxcheck.check(result, untrained, max_degeneracy=max_degeneracy)
    assert report.verdict == "degenerate", report.reasons
    for c in report.classes:  # a class at the untrained floor says so, with its numbers; others say nothing
        assert bool(c.reasons) == c.degenerate, (c.index, c.confidence, c.reasons)
        assert c.check("degeneracy").failed == (c.degeneracy > max_degeneracy)


# --------------------------------------------------------------------------- layer objectives
def test_channel_out_of_range_names_the_layer_size(digits_model):
    conv = next(layer.name for layer in digits_model.layers if isinstance(layer, keras.layers.Conv2D))
    with pytest.raises(ModelError, match=rf"layer '{conv}' has 16 channels \(0..15\), so channel 99"):
        amaxcheck.synthesize(digits_model, [0], objective=channel(conv, 99), **FAST)
    with pytest.raises(ArgumentTypeError, match="scaled by numbers"):
        class_log_prob() * class_log_prob()


# --------------------------------------------------------------------------- strategies need no live model
def test_strategies_take_a_model_factory_called_only_when_drawing(digits_model):
    from hypothesis import given, settings

    from amaxcheck import strategies as ast

    calls = []

    def load():
        calls.append(1)
        return digits_model

    strategy = ast.synthesized(load, classes=ast.target_class_lists(load, max_size=1),
                               settings=AscentConfig(steps=16, restarts=1))
    assert calls == []  # building the strategies (test collection) loads nothing

    @given(result=strategy)
    @settings(max_examples=2, deadline=None, database=None)
    def drawn(result):
        assert result.model is digits_model and len(result.class_indices) == 1

    drawn()
    assert len(calls) == 1  # loaded once, on the first draw
