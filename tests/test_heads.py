"""Binary (one sigmoid unit) and multi-label (independent sigmoids) heads, end to end.

The models are the digits CNN with the heads Keras users build, trained here on
scikit-learn's digits (amaxcheck.testing.digits.train_head): "is the digit five or
more?" as a single sigmoid, and "even / five or more / closed loop" as three.
Margins: across training seeds 0, 1, 2 every class's best restart reached p >= 0.999
at 128 steps x 2 restarts (64 steps here: p >= 0.99 measured), held-out accuracy
was 98 % (binary) and 97 % label-wise (multi-label), and the verdict was healthy
with labelled reference data; untrained twins were degenerate.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import amaxcheck
from amaxcheck.ascent.config import AscentConfig
from amaxcheck.ascent.engine import adapter_for
from amaxcheck.errors import ConfigError, ModelError, ReferenceDataError
from amaxcheck.testing import digits as D
from tests.models import tiny_cnn

STEPS, RESTARTS = 64, 2
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return D.load()


@pytest.fixture(scope="module")
def binary(data):
    model, acc = D.train_head("binary", seed=0, data=data)
    assert acc > 0.95
    return model


@pytest.fixture(scope="module")
def multilabel(data):
    model, acc = D.train_head("multilabel", seed=0, data=data)
    assert acc > 0.93
    return model


def _synth(model, **kw):
    return amaxcheck.synthesize(model, "all", steps=STEPS, restarts=RESTARTS, progress=False, **kw)


# --------------------------------------------------------------------------- binary
def test_binary_head_reads_one_sigmoid_as_two_classes(binary, data):
    adapter = adapter_for(binary, AscentConfig())
    assert (adapter.head, adapter.n_classes) == ("binary", 2)
    x = data.x_test[:32]
    p = binary.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(adapter.probabilities(x), np.stack([1 - p, p], 1), atol=1e-6)
    logits, log_probs, _ = adapter.scores(adapter.prepared(x))
    z = np.log(p) - np.log1p(-p)
    np.testing.assert_allclose(logits.numpy()[:, 1], z / 2, rtol=1e-3, atol=1e-3)  # class 1 ascends z
    np.testing.assert_allclose(logits.numpy()[:, 0], -z / 2, rtol=1e-3, atol=1e-3)  # class 0 descends it
    np.testing.assert_allclose(np.exp(log_probs.numpy()), np.stack([1 - p, p], 1), atol=1e-5)


def test_binary_model_synthesizes_and_checks_both_classes(binary, data):
    result = _synth(binary, labels=D.HEAD_LABELS["binary"])
    assert result.head == "binary" and result.summary()["head"] == "binary"
    assert result.probabilities.shape == (2 * RESTARTS, 2)
    np.testing.assert_allclose(result.probabilities.sum(1), 1.0, atol=1e-5)
    # the real model, called directly: class 0's ideal input is "below five", class 1's "five or more"
    p_real = binary.predict(result.best_images(), verbose=0)[:, 0]
    assert p_real[0] < 0.01 and p_real[1] > 0.99, p_real
    report = amaxcheck.check(result, binary, reference=data.x_test, reference_labels=data.y_test >= 5)
    assert report.verdict == "healthy" and report.passed, report
    assert [c.label for c in report.classes] == D.HEAD_LABELS["binary"]
    assert all(c.confidence > 0.99 for c in report.classes)
    held = next(s for s in report.signals if s["name"] == "held_out_accuracy")
    assert held["says"] == "learned" and held["value"] > 0.95


def test_untrained_heads_are_degenerate(data):
    for head in ("binary", "multilabel"):
        model, _ = D.train_head(head, trained=False, data=data)
        short = amaxcheck.synthesize(model, "all", steps=16, restarts=1, progress=False)  # the verdict reads no ascent
        report = amaxcheck.check(short, model, reference=data.x_test,
                                 reference_labels=D.head_targets(head, data.y_test))
        assert report.verdict == "degenerate" and not report.passed, (head, report.verdict)


# --------------------------------------------------------------------------- multi-label
def test_multilabel_head_keeps_each_label_its_own_probability(multilabel, data):
    adapter = adapter_for(multilabel, AscentConfig())
    assert (adapter.head, adapter.n_classes) == ("multilabel", 3)
    x = data.x_test[:32]
    probs = adapter.probabilities(x)
    np.testing.assert_allclose(probs, multilabel.predict(x, verbose=0), atol=1e-6)  # nothing normalized
    assert np.abs(probs.sum(1) - 1).max() > 0.3  # labels co-occur: rows do not sum to one
    _, log_probs, _ = adapter.scores(adapter.prepared(x))
    np.testing.assert_allclose(np.exp(log_probs.numpy()), probs, atol=1e-5)


def test_multilabel_model_synthesizes_and_checks_every_label(multilabel, data):
    result = _synth(multilabel, labels=D.HEAD_LABELS["multilabel"])
    assert result.head == "multilabel"
    hot = D.head_targets("multilabel", data.y_test)
    report = amaxcheck.check(result, multilabel, reference=data.x_test, reference_labels=hot)
    assert report.verdict == "healthy" and report.passed, report
    for cls in report.classes:
        assert cls.confidence > 0.99
        status = {c.name: c.status for c in cls.checks}
        assert status["top_k"] == "skip" and status["reference_recall"] == "pass"
    held = next(s for s in report.signals if s["name"] == "held_out_accuracy")
    assert held["says"] == "learned" and "Hamming" in held["reason"]
    # the HTML page's real examples of a label are images that carry it
    from amaxcheck.output.figures import class_figures

    figures = class_figures(report, reference=data.x_test, reference_labels=hot)
    for c, fig in figures.items():
        rows = [int(p.caption.split("#")[1]) for p in fig.references]
        assert len(rows) == 4 and all(hot[rows, c] == 1), (c, rows)
    # one integer class per image is read as one-hot labels
    assert amaxcheck.check(result, multilabel, reference=data.x_test[hot[:, 2] == 1],
                           reference_labels=np.full(int(hot[:, 2].sum()), 2)).classes[2].checks


def test_linear_output_declared_multilabel_reads_sigmoids():
    model = tiny_cnn(n_classes=3, head="logits")
    adapter = adapter_for(model, AscentConfig(head="multilabel"))
    x = np.random.default_rng(0).uniform(0, 1, (4, 12, 12, 3)).astype(np.float32)
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(adapter.probabilities(x), 1 / (1 + np.exp(-out)), atol=1e-6)
    assert adapter_for(model, AscentConfig()).head == "softmax"  # auto: a linear output is softmax logits


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("head, units, final, message", [
    ("binary", 4, "dense_softmax", "does not fit an output of 4 unit"),
    ("multilabel", 4, "dense_softmax", "ends in a softmax"),
])
def test_head_that_does_not_fit_the_model(head, units, final, message):
    with pytest.raises(ModelError, match=message):
        adapter_for(tiny_cnn(n_classes=units, head=final), AscentConfig(head=head))


def test_softmax_asked_of_sigmoids_and_softmax_of_one_unit(multilabel):
    import keras

    with pytest.raises(ModelError, match="use head='multilabel'"):
        adapter_for(multilabel, AscentConfig(head="softmax"))
    one = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="softmax")])
    with pytest.raises(ModelError, match="softmax over a single unit"):
        adapter_for(one, AscentConfig())


def test_unknown_head_and_bad_multi_hot_labels(multilabel, data):
    with pytest.raises(ConfigError, match="use one of auto, softmax, binary, multilabel"):
        AscentConfig(head="sigmoid")
    from amaxcheck.verdict.checks import validate_reference

    with pytest.raises(ReferenceDataError, match=r"pass \(10, 3\) of 0/1"):
        validate_reference(data.x_test[:10], np.zeros((10, 4)), (16, 16, 1), (0, 1), 3, "multilabel")
    with pytest.raises(ReferenceDataError, match="only 0 and 1"):
        validate_reference(data.x_test[:10], np.full((10, 3), 2), (16, 16, 1), (0, 1), 3, "multilabel")


# --------------------------------------------------------------------------- the gate and the plugin
def _gate(tmp_path: Path, model, head: str, labels: np.ndarray, data, *extra: str, capsys) -> tuple[int, dict, str]:
    """The real gate command, in-process (``amaxcheck.cli.main``), on ``model`` saved as a .keras file."""
    from amaxcheck import cli

    path = tmp_path / f"{head}.keras"
    model.save(path)
    (tmp_path / f"{head}.txt").write_text("\n".join(D.HEAD_LABELS[head]) + "\n")
    np.savez(tmp_path / f"{head}_ref.npz", x=data.x_test, y=labels)
    out = tmp_path / f"{head}.json"
    code = cli.main(["gate", str(path), "--labels", str(tmp_path / f"{head}.txt"), "--reference",
                     str(tmp_path / f"{head}_ref.npz"), "--steps", str(STEPS), "--restarts", str(RESTARTS), "--quiet",
                     "--json", str(out), *extra])
    return code, json.loads(out.read_text()) if out.exists() else {}, capsys.readouterr().err


def test_gate_on_binary_and_multilabel_models(tmp_path, binary, multilabel, data, capsys):
    # Keras' own binary labels: a (n, 1) float column
    code, doc, err = _gate(tmp_path, binary, "binary", (data.y_test >= 5).astype(np.float32)[:, None], data,
                         capsys=capsys)
    assert code == 0, err
    assert (doc["model"]["head"], doc["model"]["n_classes"], doc["verdict"]) == ("binary", 2, "healthy")
    assert [c["label"] for c in doc["classes"]] == D.HEAD_LABELS["binary"]
    code, doc, err = _gate(tmp_path, multilabel, "multilabel", D.head_targets("multilabel", data.y_test), data,
                           "--head", "multilabel", capsys=capsys)
    assert code == 0, err
    assert (doc["model"]["head"], doc["verdict"]) == ("multilabel", "healthy")
    assert all(c["confidence"] > 0.99 for c in doc["classes"])


def test_gate_refuses_a_head_that_does_not_fit(tmp_path, binary, data, capsys):
    code, _, err = _gate(tmp_path, binary, "binary", data.y_test >= 5, data, "--head", "multilabel", capsys=capsys)
    assert code == 2 and "does not fit an output of 1 unit" in err


def test_plugin_on_binary_and_multilabel_models(pytester, tmp_path, binary, multilabel, data):
    binary.save(tmp_path / "binary.keras")
    multilabel.save(tmp_path / "multilabel.keras")
    np.savez(tmp_path / "ref.npz", x=data.x_test, y=(data.y_test >= 5).astype(np.int64),
             hot=D.head_targets("multilabel", data.y_test))
    pytester.makeconftest(f"""
import keras, pytest

@pytest.fixture(scope="session")
def cats_vs_dogs():
    return keras.saving.load_model({str(tmp_path / "binary.keras")!r})

@pytest.fixture(scope="session")
def attributes():
    return keras.saving.load_model({str(tmp_path / "multilabel.keras")!r})
""")
    pytester.makepyfile(f"""
import numpy as np
import amaxcheck

def test_binary(amax, cats_vs_dogs):
    ref = np.load({str(tmp_path / "ref.npz")!r})
    result = amax.synthesize(cats_vs_dogs, classes="all", labels=["below five", "five or more"])
    assert result.head == "binary"
    amaxcheck.assert_confident(result, min_p=0.9)
    amaxcheck.assert_not_degenerate(result, reference=ref["x"], reference_labels=ref["y"], strict=True)
    assert result.for_class("five or more").confidence.max() > 0.99

def test_multilabel(amax, attributes):
    ref = np.load({str(tmp_path / "ref.npz")!r})
    result = amax.synthesize(attributes, classes="all", labels=["even", "five or more", "closed loop"])
    assert result.head == "multilabel"
    amaxcheck.assert_confident(result, min_p=0.9)
    amaxcheck.assert_not_degenerate(result, reference=ref["x"], reference_labels=ref["hot"], strict=True)
""")
    run = pytester.runpytest_subprocess("--amax-steps", str(STEPS), "--amax-restarts", str(RESTARTS),
                                        "-p", "no:cacheprovider", timeout=300)
    run.assert_outcomes(passed=2)


def test_python_entry_point_unchanged_for_softmax_models(digits_model):
    assert adapter_for(digits_model, AscentConfig()).head == "softmax"
    assert sys.modules["amaxcheck"].AscentConfig().head == "auto"


def test_an_unknown_head_from_the_command_line_or_pyproject_is_one_clear_error(tmp_path, capsys):
    from amaxcheck import cli
    from amaxcheck.pyproject import parse_table

    code = cli.main(["gate", str(ROOT / "examples" / "digits" / "digits_cnn.keras"), "--head", "sigmoid"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "invalid choice: 'sigmoid' (choose from 'auto', 'softmax', 'binary', 'multilabel')" in err[0], err
    with pytest.raises(ConfigError, match="head must be one of 'auto', 'softmax', 'binary', 'multilabel'"):
        parse_table({"head": "sigmoid"}, tmp_path / "pyproject.toml")
    values, _ = parse_table({"head": "binary"}, tmp_path / "pyproject.toml")
    assert values == {"head": "binary"}
