"""Hypothesis strategies and metamorphic properties (issue 6), on real digits models.

Real hypothesis runs with few examples and short ascents (32-64 steps, 1-2
restarts). Settings that compile a new engine (TV weight, transforms,
parameterization) are drawn from small sets so the file stays fast.
"""
from __future__ import annotations


import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import amaxcheck
import amaxcheck.strategies as ast
from amaxcheck import properties
from amaxcheck.errors import ConfigError
from amaxcheck.strategies import AscentSettings
from amaxcheck.ascent.transforms import Transforms

BROKEN = 7  # the class whose head weights the broken model loses

# Short ascents: the properties below hold from 32 steps on for the digits CNN.
SHORT = {"steps": ast.steps(32, 64), "restarts": ast.restarts(1, 2)}


@pytest.fixture(scope="module")
def broken_model(digits_model):
    """The example model with class 7's head zeroed, and its bias far below every other logit.

    Zeroing the weights alone is not enough: class 7's logit is then a constant
    0, and the ascent wins it anyway by driving every other logit negative
    (p = 0.9 after 256 steps, measured). A bias of -100 puts it out of reach.
    """
    model = keras.models.clone_model(digits_model)
    model.set_weights(digits_model.get_weights())
    kernel, bias = model.get_layer("probs").get_weights()
    kernel[:, BROKEN] = 0.0
    bias[BROKEN] = -100.0
    model.get_layer("probs").set_weights([kernel, bias])
    return model


# --------------------------------------------------------------------------- settings profiles
def test_profiles_are_registered_for_slow_tests():
    for name in (ast.PROFILE, ast.CI_PROFILE):
        profile = settings.get_profile(name)
        assert profile.deadline is None
        assert HealthCheck.too_slow in profile.suppress_health_check
        assert profile.max_examples == ast.DEFAULT_MAX_EXAMPLES
    ci = settings.get_profile(ast.CI_PROFILE)
    assert ci.derandomize and ci.database is None


def test_slow_settings_keep_the_active_profile():
    ci = settings.get_profile("ci")
    derived = ast.slow_settings(3, parent=ci)
    assert derived.derandomize and derived.database is None and derived.print_blob
    assert derived.max_examples == 3 and derived.deadline is None
    assert HealthCheck.too_slow in derived.suppress_health_check
    assert ast.slow_settings().derandomize == settings.default.derandomize


# --------------------------------------------------------------------------- drawn values
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"restarts": 1.5}, "restarts must be an integer"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"tv_weight": -0.1}, "tv_weight must be a number >= 0"),
        ({"learning_rate": 0.0}, "learning_rate must be a positive number"),
        ({"parameterization": "wavelet"}, "unknown parameterization 'wavelet'; use 'pixel' or 'fourier'"),
        ({"transforms": "jitter"}, "transforms must be 'auto', None or a Transforms"),
    ],
)
def test_ascent_settings_reject_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AscentSettings(**kwargs)


@given(drawn=ast.ascent_settings())
@settings(max_examples=40, deadline=None)
def test_drawn_settings_are_sane_and_print_as_python(drawn):
    assert 32 <= drawn.steps <= 128 and drawn.steps % 16 == 0
    assert 1 <= drawn.restarts <= 3
    assert 0 <= drawn.seed < 2**32
    assert drawn.tv_weight in (0.05, 0.0, 0.02, 0.1, 0.2, 0.5)
    assert drawn.parameterization.name in ("pixel", "fourier")
    assert 0.01 <= drawn.learning_rate <= 0.2
    assert drawn.transforms == "auto" or isinstance(drawn.transforms, Transforms)
    assert eval(repr(drawn), {"AscentConfig": AscentSettings, "Transforms": Transforms}) == drawn


@given(drawn=ast.ascent_settings(steps=48, restarts=st.just(2), transforms=None, parameterization="fourier"))
@settings(max_examples=5, deadline=None)
def test_settings_are_plain_values_or_strategies(drawn):
    assert (drawn.steps, drawn.restarts, drawn.parameterization.name) == (48, 2, "fourier")
    assert drawn.transforms == Transforms()
    assert AscentSettings().replace(tv_weight=0.5).tv_weight == 0.5
    with pytest.raises(ConfigError, match="no setting"):
        AscentSettings().replace(tv=0.5)


@given(data=st.data())
@settings(max_examples=15, deadline=None)
def test_target_classes_by_index_and_label(digits_model, digits_labels, data):
    index = data.draw(ast.target_classes(digits_model))
    assert index in range(10)
    label = data.draw(ast.target_classes(digits_model, labels=digits_labels, by="label"))
    assert label in digits_labels
    either = data.draw(ast.target_classes(digits_model, labels=digits_labels, by="either", among=[2, "5"]))
    assert either in (2, 5, "2", "5")
    many = data.draw(ast.target_class_lists(digits_model, labels=digits_labels, by="either"))
    as_indices = [digits_labels.index(c) if isinstance(c, str) else c for c in many]
    assert 1 <= len(many) <= 10 and len(set(as_indices)) == len(many)


def test_class_strategies_explain_bad_arguments(digits_model, digits_labels):
    with pytest.raises(InvalidArgument, match="labels has 3 names but the model has 10 classes"):
        ast.target_classes(digits_model, labels=["a", "b", "c"])
    with pytest.raises(InvalidArgument, match="needs labels"):
        ast.target_classes(digits_model, by="label")
    with pytest.raises(InvalidArgument, match="no multiple of 16"):
        ast.steps(33, 47)


# --------------------------------------------------------------------------- synthesis, cache, reproduction
def test_cache_returns_the_same_result_until_weights_change(digits_model):
    model = keras.models.clone_model(digits_model)
    model.set_weights(digits_model.get_weights())
    drawn = AscentSettings(steps=32, restarts=1, seed=3)
    first = ast.cached_synthesize(model, [2], drawn)
    assert ast.cached_synthesize(model, 2, drawn) is first  # same class, same settings: no new ascent
    assert not first.images.flags.writeable
    model.set_weights([w * 0.5 for w in digits_model.get_weights()])
    second = ast.cached_synthesize(model, [2], drawn)
    assert second is not first and second.model_fingerprint != first.model_fingerprint


def test_a_drawn_result_reproduces_bit_for_bit_from_its_note(digits_model):
    runs = []

    @given(result=ast.synthesized(digits_model, classes=ast.target_class_lists(digits_model, max_size=2),
                                  settings=ast.ascent_settings(**SHORT, tv_weight=0.05, transforms=ast.transforms(
                                      jitter=(1.0,), scale=((1.0, 1.0),), rotate=(0.0,), blur=(0.0,)))))
    @ast.slow_settings(max_examples=3)
    def check(result):
        runs.append(result)
        call = ast.reproduce(result.drawn_settings, result.drawn_classes)
        namespace = {"model": digits_model}
        exec(call.replace("synthesize(", "again = synthesize(", 1), namespace)  # noqa: S102
        assert np.array_equal(namespace["again"].images, result.images)  # the engine is bit-deterministic
        assert result.settings["seed"] == result.drawn_settings.seed
        assert sorted(result.class_indices) == sorted(result.drawn_classes)

    check()
    assert runs and "settings=AscentConfig(" in repr(runs[-1])  # the note holds the drawn config as Python


def test_shrinks_to_the_broken_class_and_the_simplest_settings(broken_model):
    """Hypothesis finds the class that can never win and reports it with the simplest settings."""
    seen = []

    @given(result=ast.synthesized(broken_model, settings=ast.ascent_settings(
        **SHORT, tv_weight=ast.tv_weights((0.05, 0.2)), transforms="auto", parameterization="pixel")))
    @ast.slow_settings(max_examples=10, derandomize=True, phases=[Phase.generate, Phase.shrink])
    def every_class_can_win(result):
        seen.append(result)
        for view in result:
            best = float(view.confidence.max())
            assert best > 0.5, f"class {view.label} never wins (best p={best:.3f})"

    before = ast.cache_info()["hits"]
    with pytest.raises(AssertionError, match=f"class {BROKEN} never wins") as failure:
        every_class_can_win()
    final = seen[-1]  # hypothesis replays the minimal failing example last
    assert final.drawn_classes == [BROKEN]
    assert final.drawn_settings == AscentSettings(steps=32, restarts=1, seed=0, tv_weight=0.05, transforms="auto",
                                                  parameterization="pixel", learning_rate=0.05)
    report = "\n".join(getattr(failure.value, "__notes__", []))
    assert f"classes=[{BROKEN}], settings=AscentConfig(restarts=1, steps=32)" in report
    assert f"synthesize(model, [{BROKEN}], config=AscentConfig(restarts=1, steps=32))" in report
    assert ast.cache_info()["hits"] > before  # the final replay reused the shrunk example's ascent


# --------------------------------------------------------------------------- metamorphic properties
def test_more_tv_does_not_raise_high_frequency_energy(digits_model):
    @given(classes=ast.target_class_lists(digits_model, max_size=3),
           drawn=ast.ascent_settings(steps=ast.steps(32, 64), restarts=2, tv_weight=0.05,
                                     transforms=st.sampled_from(["auto", Transforms()]),
                                     parameterization=ast.parameterizations()))
    @ast.slow_settings(max_examples=4)
    def check(classes, drawn):
        properties.tv_reduces_high_frequency(digits_model, classes, drawn).check()

    check()


def test_ideal_inputs_survive_uint8_quantization(digits_model):
    @given(classes=ast.target_class_lists(digits_model, max_size=4), drawn=ast.ascent_settings(**SHORT))
    @ast.slow_settings(max_examples=4)
    def check(classes, drawn):
        outcome = properties.survives_quantization(digits_model, classes, drawn).check()
        assert outcome.measured["flipped"] == []

    check()


def test_quantization_property_reports_a_class_that_is_never_reached(broken_model):
    outcome = properties.survives_quantization(broken_model, [3, BROKEN], AscentSettings(steps=32))
    assert not outcome
    assert "class(es) ['7']" in outcome.message and "reproduce with" in outcome.message
    with pytest.raises(AssertionError, match="never reached"):
        outcome.check()


def test_restarts_agree_more_than_the_shuffled_twin(digits_model):
    @given(classes=ast.target_class_lists(digits_model, max_size=3),
           drawn=ast.ascent_settings(steps=ast.steps(32, 64), restarts=2, tv_weight=0.05,
                                     transforms=Transforms(), parameterization="pixel"))
    @ast.slow_settings(max_examples=3)
    def check(classes, drawn):
        outcome = properties.restarts_agree_more_than_twin(digits_model, classes, drawn).check()
        assert set(outcome.measured["agreement"]) == set(classes)

    check()


def test_twin_property_refuses_settings_where_it_does_not_hold(digits_model):
    with pytest.raises(ConfigError, match="only in pixel space without transforms"):
        properties.restarts_agree_more_than_twin(digits_model, [1], AscentSettings(restarts=2, transforms="auto"))
    with pytest.raises(ConfigError, match="at least 2 restarts"):
        properties.restarts_agree_more_than_twin(digits_model, [1], AscentSettings(restarts=1))


def test_eight_examples_differing_in_steps_seed_and_weights_trace_once(digits_model):
    """Steps, seed, learning rate and the TV weight are inputs of the compiled loop, not of its graph."""
    from amaxcheck import _cache
    from amaxcheck.ascent.engine import engine_for

    _cache.clear()
    ast.clear_cache()
    seen = []

    @given(drawn=ast.synthesized(digits_model, classes=[2], settings=ast.ascent_settings(
        steps=ast.steps(16, 48), restarts=1, seed=ast.seeds(0, 50), tv_weight=ast.tv_weights(),
        learning_rate=ast.learning_rates(), transforms="auto", parameterization="pixel")))
    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
              phases=[Phase.generate], derandomize=True, database=None)
    def check(drawn):
        seen.append(drawn.settings)

    check()
    assert len(seen) == 8
    engine = engine_for(digits_model, amaxcheck.AscentConfig())
    assert engine._compiled_chunk.experimental_get_tracing_count() == 1
