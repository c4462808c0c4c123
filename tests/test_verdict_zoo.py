"""The three-outcome verdict on a zoo of real digits models.

Zoo (all the same CNN, trained here from scikit-learn's bundled digits):
standard (the committed example model), adversarially trained (FGSM with
random start), memorizing shuffled labels, and untrained. With labelled held-out
reference images the verdict must be right on all four; without them it must
never call a working model degenerate nor a learned-nothing model healthy.
The wider validation (15 architectures x data sets) is ``benchmarks/verdict_zoo.py``.
"""
from __future__ import annotations

import re

import pytest

import amaxcheck
from amaxcheck.testing import digits

# The verdict reads weights and held-out accuracy, never the ascent (decision.py), so short ascents suffice here;
# the reach signal and the class checks still run at these settings.
SETTINGS = dict(restarts=2, steps=128, seed=0, progress=False)
HEALTHY, LEARNED_NOTHING = ("standard", "adversarial"), ("random_labels", "untrained")


@pytest.fixture(scope="module")
def zoo(digits_model):
    data = digits.load()
    models = {"standard": digits_model}
    for kind in ("adversarial", "random_labels", "untrained"):
        models[kind], _ = digits.train(kind, data=data)
    return models


@pytest.fixture(scope="module")
def reports(zoo, digits_reference, digits_labels):
    x, y = digits_reference
    out = {}
    for kind, model in zoo.items():
        result = amaxcheck.synthesize(model, labels=digits_labels, **SETTINGS)
        out[kind] = {"ref": amaxcheck.check(result, reference=x, reference_labels=y), "noref": amaxcheck.check(result)}
    return out


def _table(reports) -> str:
    return "\n".join(f"{kind:14s} ref {r['ref'].verdict:12s} no-ref {r['noref'].verdict:12s} "
                     f"{' | '.join(r['ref'].reasons)}" for kind, r in reports.items())


def test_with_labelled_reference_every_model_gets_the_right_verdict(reports):
    table = _table(reports)
    for kind in HEALTHY:
        assert reports[kind]["ref"].verdict == "healthy", table
    for kind in LEARNED_NOTHING:
        rep = reports[kind]["ref"]
        assert rep.verdict == "degenerate" and rep.degenerate and not rep.passed, table


def test_without_reference_no_model_is_misjudged_and_untrained_is_still_caught(reports):
    table = _table(reports)
    assert reports["untrained"]["noref"].verdict == "degenerate", table
    for kind in HEALTHY:
        assert reports[kind]["noref"].verdict != "degenerate", table
    assert reports["random_labels"]["noref"].verdict != "healthy", table
    rep = reports["standard"]["noref"]
    if rep.verdict == "inconclusive":  # the honest answer says how to get a better one
        assert any("--reference" in r for r in rep.reasons) and rep.passed


def test_reasons_quote_the_numbers_of_their_signals(reports):
    for kind, r in reports.items():
        for mode in ("ref", "noref"):
            for s in r[mode].signals:
                if s["name"] == "held_out_accuracy":
                    d = s["details"]
                    assert f"{d['correct']} of {d['n']}" in s["reason"] and f"{s['value']:.0%}" in s["reason"]
                if s["name"] == "reach":
                    assert f"{s['value']:.2f}" in s["reason"] and f"{s['null']:.2f}" in s["reason"]
    untrained = reports["untrained"]["ref"]
    for c in untrained.classes:  # class reasons quote the class's own probability and the floor
        for reason in c.reasons:
            p = float(re.search(r"p=(\d\.\d\d)", reason).group(1))
            assert p == pytest.approx(c.confidence, abs=0.006)


def test_controls_report_their_floor(reports):
    controls = reports["standard"]["ref"].controls
    assert controls["twins"] == 3 and controls["reach_max"] < 0.5 and controls["classes"]
    assert reports["standard"]["ref"].controls["classes"] == reports["untrained"]["ref"].controls["classes"]


def test_verdict_does_not_depend_on_the_class_subset_or_the_seed(zoo, digits_reference, digits_labels):
    x, y = digits_reference
    for kind in ("standard", "untrained"):
        verdicts = set()
        for classes, seed in (([0, 1, 7], 0), ([0, 1, 7], 1), ("all", 1), ([4], 2)):
            result = amaxcheck.synthesize(zoo[kind], classes, labels=digits_labels, steps=64, restarts=2, seed=seed,
                                          progress=False)
            verdicts.add(amaxcheck.check(result, reference=x, reference_labels=y).verdict)
            verdicts.add("noref:" + amaxcheck.check(result).verdict)
        expected = {"healthy", "noref:inconclusive"} if kind == "standard" else {"degenerate", "noref:degenerate"}
        assert verdicts == expected, (kind, verdicts)


def test_verdict_is_deterministic(zoo, digits_labels):
    a = amaxcheck.check(amaxcheck.synthesize(zoo["standard"], [0, 1], labels=digits_labels, steps=64, restarts=2,
                                             progress=False))
    b = amaxcheck.check(amaxcheck.synthesize(zoo["standard"], [0, 1], labels=digits_labels, steps=64, restarts=2,
                                             progress=False))
    assert a.to_dict() == b.to_dict()


def test_verdict_holds_for_another_training_seed(digits_labels, digits_reference):
    """A re-trained random-label model and a re-trained standard one, on a second seed."""
    x, y = digits_reference
    data = digits.load()
    # 40 epochs of shuffled labels (the zoo's 120 memorize them fully): held-out accuracy is at chance either way
    for kind, expected, epochs in (("random_labels", "degenerate", 40), ("standard", "healthy", None)):
        model, _ = digits.train(kind, seed=1, data=data, epochs=epochs)
        result = amaxcheck.synthesize(model, labels=digits_labels, **{**SETTINGS, "steps": 64})
        assert amaxcheck.check(result, reference=x, reference_labels=y).verdict == expected
        assert amaxcheck.check(result).verdict == "inconclusive"
