"""Layer visualization as a mode: ``synthesize(model, layer=..., units=...)``, ``check()`` per unit, ``show --layer``.

Real trained models only: the committed digits CNN (a ``Sequential``: ``conv2d``
16 channels, ``conv2d_1`` 32) and a small functional digits CNN trained here
(``conv1`` 8 channels, ``conv2`` 16; about 4 s on two CPU cores, 94% test accuracy).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import amaxcheck
from amaxcheck import _cache
from amaxcheck import objectives as O
from amaxcheck.cli import EXIT_ERROR, EXIT_PASS, main
from amaxcheck.errors import ClassSelectionError, ConfigError, ModelError, UnitSelectionError

FAST = dict(steps=64, restarts=2, progress=False)
#: the smallest activation / baseline ratio (baseline: the unit's mean on the reference images) over every unit,
#: seeds 0, 1, 2, at FAST settings, measured: digits conv2d 1.35, conv2d_1 1.67; functional conv1 1.26, conv2 1.96
MIN_RATIO_MEASURED = 1.2


def _functional_digits():
    """A functional CNN on scikit-learn's digits (4 epochs): conv1 (8 ch) -> pool -> conv2 (16 ch) -> pool -> dense."""
    import keras
    from keras import layers

    from amaxcheck.testing import digits

    data = digits.load()
    keras.utils.set_random_seed(0)
    inp = keras.Input((digits.SIDE, digits.SIDE, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Flatten(name="flat")(layers.MaxPooling2D(name="pool2")(x))
    model = keras.Model(inp, layers.Dense(10, activation="softmax", name="probs")(x), name="digits_functional")
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=4, batch_size=64, verbose=0)
    accuracy = float(np.mean(model.predict(data.x_test, verbose=0).argmax(1) == data.y_test))
    return model, accuracy


@pytest.fixture(scope="module")
def functional():
    model, accuracy = _functional_digits()
    assert accuracy > 0.85, accuracy  # measured 0.94
    return model


@pytest.fixture(scope="module")
def functional_path(functional, tmp_path_factory):
    path = tmp_path_factory.mktemp("functional") / "digits_functional.keras"
    functional.save(path)
    return path


def _engines(model) -> list:
    return [key for key in _cache.ENGINES.of(model)._data if key[0] == "engine"]


# ----------------------------------------------------------------------------- the mode
def test_units_all_gives_one_view_per_unit_from_one_compiled_engine(functional):
    before = len(_engines(functional))
    r = amaxcheck.synthesize(functional, layer="conv2", units="all", **FAST)
    assert len(_engines(functional)) == before + 1  # every unit x restart in one engine, not one per unit
    assert r.mode == "layer" and r.layer == "conv2" and len(r) == 16 * 2
    assert r.unit_indices == list(range(16)) and r.units.tolist() == [u for u in range(16) for _ in range(2)]
    assert (r.classes == -1).all() and r.class_indices == []
    views = r.unit_views()
    assert [v.unit for v in views] == list(range(16))
    seven = r.for_unit(7)
    assert seven.images.shape == (2, 16, 16, 1) and seven.best == int(np.argmax(seven.activations))
    assert r.best_images().shape == (16, 16, 16, 1)
    assert r.settings["mode"] == "layer" and r.settings["units"] == list(range(16))
    assert r.settings["objective"] == "channel('conv2') - 0.05*total_variation()"
    assert {"mode", "layer", "units"} <= set(r.summary()) and r.summary()["units"] == list(range(16))
    # other units, seeds and step counts reuse the compiled engine
    amaxcheck.synthesize(functional, layer="conv2", units=[3, 5], steps=32, restarts=1, seed=4, progress=False)
    assert len(_engines(functional)) == before + 1
    assert "layer 'conv2', 16 units x 2 restarts" in repr(r)


def test_the_ascent_raises_each_unit_it_reports(functional):
    import keras

    r = amaxcheck.synthesize(functional, layer="conv1", units=[0, 5], **FAST)
    probe = keras.Model(functional.inputs, functional.get_layer("conv1").output)
    for u in (0, 5):
        view = r.for_unit(u)
        np.testing.assert_allclose(probe({"image": view.images}).numpy()[..., u].mean(axis=(1, 2)), view.activations, rtol=1e-4)
        start = probe({"image": r.initial_images[r.units == u]}).numpy()[..., u].mean()
        assert view.best_activation > start


def test_class_results_and_their_views_are_unchanged(digits_model):
    r = amaxcheck.synthesize(digits_model, [2, 7], **FAST)
    assert r.mode == "classes" and r.units is None and r.layer is None
    assert "mode" not in r.summary() and list(r.settings)[0] == "classes"
    assert [v.index for v in r] == [2, 7]
    with pytest.raises(UnitSelectionError, match="holds classes, not the units"):
        r.for_unit(0)


def test_same_seed_same_images_and_batching_does_not_matter(digits_model):
    a = amaxcheck.synthesize(digits_model, layer="conv2d", units=[1, 4, 9], **FAST)
    b = amaxcheck.synthesize(digits_model, layer="conv2d", units=[1, 4, 9], **FAST)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.activations, b.activations)
    assert not np.array_equal(a.images, amaxcheck.synthesize(digits_model, layer="conv2d", units=[1, 4, 9],
                                                             **{**FAST, "seed": 1}).images)
    split = amaxcheck.synthesize(digits_model, layer="conv2d", units=[1, 4, 9], max_batch=4, **FAST)
    np.testing.assert_allclose(split.images, a.images, atol=1e-5)
    alone = amaxcheck.synthesize(digits_model, layer="conv2d", units=[4], **FAST)  # a sample's stream is its own
    np.testing.assert_allclose(alone.images, a.images[2:4], atol=1e-5)


# ----------------------------------------------------------------------------- check()
@pytest.mark.parametrize("which, layer", [("sequential", "conv2d"), ("sequential", "conv2d_1"),
                                          ("functional", "conv1"), ("functional", "conv2")])
def test_every_unit_rises_above_its_baseline_across_seeds(which, layer, digits_model, functional, digits_reference):
    model = digits_model if which == "sequential" else functional
    for seed in (0, 1, 2):
        r = amaxcheck.synthesize(model, layer=layer, units="all", seed=seed, **FAST)
        on_reference = amaxcheck.check(r, model, reference=digits_reference[0])
        on_grey = amaxcheck.check(r)  # the result's own model, a mid-grey baseline
        assert on_reference.passed and on_grey.passed, (seed, on_reference.table())
        ratios = [u.ratio for u in on_reference.units]
        assert min(ratios) > MIN_RATIO_MEASURED, (seed, ratios)
        assert on_grey.baseline.startswith("a mid-grey image")


def test_layer_report_has_no_class_verdict(functional, digits_reference):
    r = amaxcheck.synthesize(functional, layer="conv2", units=[0, 3, 9], **FAST)
    report = amaxcheck.check(r, reference=digits_reference[0], stat_bounds={"restart_agreement": (-1.0, 1.0)})
    assert isinstance(report, amaxcheck.LayerReport) and report.verdict is None
    assert report.verdict_reason.startswith("not applicable")
    doc = report.to_dict()
    assert doc["mode"] == "layer" and doc["verdict"] is None and [u["unit"] for u in doc["units"]] == [0, 3, 9]
    for banned in ("classes", "degenerate", "degeneracy", "confidence", "top_k"):
        assert banned not in doc and all(banned not in u for u in doc["units"])
    unit = report.for_unit(3)
    assert [c.name for c in unit.checks] == ["activation", "stat:restart_agreement"]
    assert unit.check("activation").threshold == pytest.approx(unit.baseline)
    assert unit.ratio == pytest.approx(unit.activation / unit.baseline)
    assert -1.0 <= unit.stats["restart_agreement"] <= 1.0 and "high_frequency_ratio" in unit.stats
    assert unit.image is not None and np.array_equal(unit.image, r.for_unit(3).best_image)
    table = report.table()
    assert "DEGENERATE" not in table and "confidence" not in table and "3 of 3 units pass" in table
    with pytest.raises(UnitSelectionError, match="not in this report"):
        report.for_unit(4)


def test_a_unit_that_never_rises_fails_its_check_and_the_report(functional):
    """A dead unit (its filter zeroed: ReLU output 0 for every input) cannot rise above its baseline."""
    import keras

    dead = keras.models.clone_model(functional)
    dead.set_weights(functional.get_weights())
    kernel, bias = dead.get_layer("conv1").get_weights()
    kernel[..., 2], bias[2] = 0.0, -1.0
    dead.get_layer("conv1").set_weights([kernel, bias])
    report = amaxcheck.check(amaxcheck.synthesize(dead, layer="conv1", units=[1, 2], **FAST), dead)
    assert not report.passed and [u.unit for u in report.failed_units] == [2]
    assert "found no input raising this unit" in report.for_unit(2).check("activation").message


# ----------------------------------------------------------------------------- the CLI
def _png_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def _grid_size(n_units: int) -> tuple[int, int]:
    """``output.artifacts.grid_image`` geometry for 16x16 inputs: 96 px tiles, 4 px padding, two 12 px caption lines."""
    columns = int(np.ceil(np.sqrt(n_units)))
    rows = -(-n_units // columns)
    return columns * (96 + 4) + 4, rows * (96 + 2 * 12 + 4 + 4) + 4


def test_show_layer_writes_the_filter_grid_of_a_functional_model(functional_path, tmp_path, capsys):
    out = tmp_path / "grid.png"
    args = ["show", str(functional_path), "--layer", "conv2", "--units", "all", "-o", str(out), "--steps", "64",
            "--restarts", "2", "--quiet"]
    assert main(args) == EXIT_PASS
    assert _png_size(out) == _grid_size(16)  # 4 x 4 tiles
    assert "layer conv2: 16 units (best of 2 restarts each)" in capsys.readouterr().out
    assert main(args) == EXIT_PASS  # its own previous PNG may be replaced


def test_show_layer_of_a_sequential_model_with_some_units(digits_model_path, tmp_path):
    out = tmp_path / "units.png"
    assert main(["show", str(digits_model_path), "--layer", "conv2d_1", "--units", "3,5,30", "-o", str(out),
                 "--steps", "32", "--restarts", "1", "--quiet"]) == EXIT_PASS
    assert _png_size(out) == _grid_size(3)  # 2 columns, 2 rows


@pytest.mark.parametrize("args, message", [
    (["--class", "3", "--layer", "conv2d"], "--class and --layer are mutually exclusive"),
    (["--units", "3"], "--units picks units of a layer; say which layer with --layer"),
    ([], "show needs --class C"),
    (["--layer", "conv2d", "--units", "3,x"], "--units must be 'all' or a comma list"),
    (["--layer", "conv2d", "--gif"], "--gif animates one class's ascent"),
    (["--layer", "conv2d", "--units", "99"], "layer 'conv2d' has 16 channels \\(0..15\\), so unit 99 does not exist"),
    (["--layer", "conv2", "--units", "1"], "no layer named 'conv2'"),
    (["--layer", "flatten"], "layer 'flatten' has no spatial output"),
])
def test_show_layer_refuses_bad_arguments_in_one_line(args, message, digits_model_path, tmp_path, capsys):
    code = main(["show", str(digits_model_path), "-o", str(tmp_path / "g.png"), "--steps", "8", *args])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not (tmp_path / "g.png").exists()


def test_show_layer_never_overwrites_its_input(digits_model_path, tmp_path, capsys):
    import shutil

    model = tmp_path / "model.keras"
    shutil.copy(digits_model_path, model)
    assert main(["show", str(model), "--layer", "conv2d", "-o", str(model)]) == EXIT_ERROR
    assert "is the MODEL file" in capsys.readouterr().err


def test_the_gate_refuses_layer_mode_and_points_to_show(digits_model_path, capsys):
    assert main(["gate", str(digits_model_path), "--layer", "conv2d"]) == EXIT_ERROR
    assert "amaxcheck show MODEL --layer NAME --units all -o grid.png" in capsys.readouterr().err


def test_the_pytest_fixtures_refuse_layer_mode_and_point_to_the_api():
    from amaxcheck.ascent.config import AscentConfig
    from amaxcheck.pytest_plugin import split_settings

    with pytest.raises(ConfigError, match=r"the amax fixtures synthesize classes.*amaxcheck.synthesize\(model, layer="):
        split_settings(AscentConfig(), {"layer": "conv2d", "units": "all", "steps": 8})


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(layer="conv2d_2"), ModelError, r"no layer named 'conv2d_2'.*Did you mean \['conv2d_1', 'conv2d'"),
    (dict(layer="conv2d_1", units=[3, 99]), UnitSelectionError,
     r"layer 'conv2d_1' has 32 channels \(0\.\.31\), so unit 99 does not exist"),
    (dict(layer="conv2d", units=-1), UnitSelectionError, r"has 16 channels \(0\.\.15\), so unit -1 does not exist"),
    (dict(layer="dense", units=[3]), ModelError, r"layer 'dense' has no spatial output.*neuron\('dense', k\)"),
    (dict(layer="flatten"), ModelError, r"layer 'flatten' has no spatial output \(its output shape is \(None, 512\)\)"),
    (dict(layer="conv2d", units=[]), UnitSelectionError, r"units is empty; pass units='all'"),
    (dict(layer="conv2d", units=[3, 5, 3]), UnitSelectionError, r"unit 3 is listed more than once"),
    (dict(layer="conv2d", units=["3"]), UnitSelectionError, r"unit '3' is not an integer index"),
    (dict(layer="conv2d", units="some"), UnitSelectionError, r"units must be 'all'"),
    (dict(classes="all", layer="conv2d"), ConfigError, r"pass either classes='all' .* or layer='conv2d'"),
    (dict(classes=[0], layer="conv2d", units=[1]), ConfigError, r"not both"),
    (dict(units=[1]), ConfigError, r"units=\[1\] selects units of a layer; say which layer"),
    (dict(layer=3), ConfigError, r"layer must be the name of a layer"),
    (dict(layer="conv2d", stop_at=0.9), ConfigError, r"layer mode has no target class: leave stop_at unset"),
    (dict(layer="conv2d", objective=O.class_log_prob() + O.channel("conv2d")), ConfigError,
     r"reads each sample's target class"),
    (dict(layer="conv2d", objective=O.channel("conv2d", 3)), ConfigError, r"the same for every unit"),
    (dict(layer="conv2d", objective=O.channel("conv2d_1") - O.l2()), ConfigError,
     r"picks units of layer 'conv2d_1' but layer='conv2d'"),
    (dict(objective=O.channel("conv2d") - O.l2()), ConfigError,
     r"picks each sample's unit of layer 'conv2d', which is layer mode"),
])
def test_layer_mode_errors_name_the_problem_and_the_fix(kwargs, error, message, digits_model):
    with pytest.raises(error, match=message):
        amaxcheck.synthesize(digits_model, **{"steps": 8, "restarts": 1, "progress": False, **kwargs})


def test_a_class_independent_objective_is_not_rerun_per_class(digits_model):
    with pytest.raises(ConfigError, match=r"does not depend on the target class, so 10 classes would synthesize "
                                          r"the same input 10 times.*layer='conv2d'"):
        amaxcheck.synthesize(digits_model, objective=O.channel("conv2d", 7), **FAST)
    with pytest.raises(ConfigError, match="2 classes"):
        amaxcheck.synthesize(digits_model, [0, 1], objective=O.neuron("dense", 3) - O.l2(), **FAST)
    one = amaxcheck.synthesize(digits_model, [0], objective=O.channel("conv2d", 7), **FAST)  # one class: fine
    assert len(one) == 2
    custom = O.custom(lambda ctx: -ctx.unit_image[:, 0, 0, 0], name="dark_corner")  # may read the class: allowed
    assert len(amaxcheck.synthesize(digits_model, [0, 1], objective=custom, **FAST)) == 4


def test_a_custom_objective_may_pick_each_unit(functional):
    import tensorflow as tf

    def unit_centre(ctx):
        act = ctx.activations["conv1"][:, 8, 8, :]
        return tf.gather(act, ctx.units, axis=1, batch_dims=1)

    objective = O.custom(unit_centre, name="unit_centre", layers=("conv1",))
    r = amaxcheck.synthesize(functional, layer="conv1", units=[1, 6], objective=objective, **FAST)
    assert r.settings["objective"] == "unit_centre()" and r.unit_indices == [1, 6]


def test_class_views_of_a_layer_result_and_class_assertions_are_refused(digits_model):
    r = amaxcheck.synthesize(digits_model, layer="conv2d", units=[0, 1], **FAST)
    with pytest.raises(ClassSelectionError, match=r"visualizes units \[0, 1\] of layer 'conv2d' and has no classes"):
        r.for_class(0)
    with pytest.raises(ClassSelectionError, match="use for_unit"):
        list(r)
    with pytest.raises(UnitSelectionError, match=r"unit 5 of layer 'conv2d' was not synthesized"):
        r.for_unit(5)
    with pytest.raises(ConfigError, match="assert_confident checks classes, and this is a layer visualization"):
        amaxcheck.assert_confident(r)
    sub = r.subset(r.units == 1)
    assert sub.unit_indices == [1] and sub.mode == "layer" and sub.activations.shape == (2,)


def test_check_needs_the_model_for_the_baselines(functional):
    import gc

    import keras

    twin = keras.models.clone_model(functional)
    twin.set_weights(functional.get_weights())
    r = amaxcheck.synthesize(twin, layer="conv1", units=[0], steps=8, restarts=1, progress=False)
    del twin
    gc.collect()
    with pytest.raises(ConfigError, match=r"needs the model for their baselines.*check\(result, model\)"):
        amaxcheck.check(r)
    assert amaxcheck.check(r, functional).for_unit(0).baseline >= 0.0  # the same weights: the same layer
