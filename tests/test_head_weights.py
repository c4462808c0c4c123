"""Third-party head shapes the weights signal and the engine must read right (found by a sweep of user-style models).

Real models, trained here on scikit-learn's digits for a few epochs each:
a bias-free softmax head, a second (auxiliary) output that was never trained,
and a mixed-precision model whose softmax ``Dense`` is bypassed by the engine.
"""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from amaxcheck.ascent.config import AscentConfig  # noqa: E402
from amaxcheck.testing import digits as D  # noqa: E402
from amaxcheck.verdict import controls  # noqa: E402
from amaxcheck.verdict import signals as G  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return D.load(0)


def _trunk(x):
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    return keras.layers.Flatten()(x)


def test_a_trained_head_without_bias_is_not_called_never_trained(data):
    keras.utils.set_random_seed(0)
    inp = keras.Input((D.SIDE, D.SIDE, 1))
    out = keras.layers.Dense(10, activation="softmax", use_bias=False, name="probs")(_trunk(inp))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=3, batch_size=64, verbose=0)
    evidence = controls.learned_nothing_control(model, AscentConfig(steps=8, restarts=1), 10)
    assert evidence.head == "probs"
    signal = G.weights_at_initialization(evidence.weights, evidence.head)
    assert signal.says == G.LEARNED, signal.reason


def test_the_head_is_the_selected_outputs_layer_not_an_untrained_auxiliary_one(data):
    keras.utils.set_random_seed(0)
    inp = keras.Input((D.SIDE, D.SIDE, 1))
    features = _trunk(inp)
    main = keras.layers.Dense(10, activation="softmax", name="main")(features)
    aux = keras.layers.Dense(2, activation="softmax", name="aux")(features)
    model = keras.Model(inp, [main, aux])
    model.compile("adam", ["sparse_categorical_crossentropy", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.0])
    model.fit(data.x_train, [data.y_train, data.y_train % 2], epochs=3, batch_size=64, verbose=0)
    on_main = controls.learned_nothing_control(model, AscentConfig(steps=8, restarts=1, output="main"), 10)
    assert on_main.head == "main"
    assert G.weights_at_initialization(on_main.weights, on_main.head).says == G.LEARNED
    on_aux = controls.learned_nothing_control(model, AscentConfig(steps=8, restarts=1, output="aux"), 2)
    assert on_aux.head == "aux"  # never trained (loss weight 0): its bias is still exactly zero
    dead = G.weights_at_initialization(on_aux.weights, on_aux.head)
    assert dead.says == G.NOTHING and "'aux'" in dead.reason


def test_mixed_precision_softmax_dense_head_is_synthesized(data):
    from amaxcheck import synthesize

    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        inp = keras.Input((D.SIDE, D.SIDE, 1))
        out = keras.layers.Dense(10, activation="softmax", dtype="float32", name="probs")(_trunk(inp))
        model = keras.Model(inp, out)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=2, batch_size=64, verbose=0)
    result = synthesize(model, [3], steps=16, restarts=1, progress=False)
    assert np.all(np.isfinite(result.images))
    assert result.images.shape == (1, D.SIDE, D.SIDE, 1)


def test_a_raw_255_model_whose_untrained_twins_saturate_skips_the_class_degeneracy_check(data):
    """Raw 0..255 inputs without ``Rescaling``: a fresh network's softmax saturates, so the untrained floor is
    about 1 and "no higher than the floor" proves nothing; the check says so instead of failing every class."""
    import amaxcheck

    keras.utils.set_random_seed(0)
    inp = keras.Input((D.SIDE, D.SIDE, 1))
    out = keras.layers.Dense(10, activation="softmax", name="probs")(_trunk(inp))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train * 255.0, data.y_train, epochs=4, batch_size=64, verbose=0)
    result = amaxcheck.synthesize(model, [0, 1, 2], steps=32, restarts=2, input_range=(0.0, 255.0), progress=False)
    report = amaxcheck.check(result, model, reference=data.x_test * 255.0, reference_labels=data.y_test)
    reach = next(s for s in report.signals if s["name"] == "reach")
    floor = reach["details"]["control_max"]
    assert floor >= G.SATURATED_FLOOR, floor  # the situation under test: the untrained twins saturate
    assert report.verdict == "healthy"
    assert all(c.check("degeneracy").status == "skip" and "already reaches" in c.check("degeneracy").message
               for c in report.classes)
    assert reach["says"] is None and "already reaches" in reach["reason"]


def test_an_integer_image_input_is_refused_with_an_image_fix():
    from amaxcheck import synthesize
    from amaxcheck.errors import ModelError

    inp = keras.Input((D.SIDE, D.SIDE, 1), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inp)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    with pytest.raises(ModelError, match=r"dtype uint8: an integer image input.*MODULE:FUNCTION.*--input-range"):
        synthesize(model, [0], steps=4, restarts=1, progress=False)
