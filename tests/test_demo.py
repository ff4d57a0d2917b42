"""The built-in demo runs end to end and its rules make learning checkable."""
from __future__ import annotations

import logging

import numpy as np

from persona_iaa.data.synthetic import aesthetic_score, liker_traits, render
from persona_iaa.demo import run_demo


def test_demo_end_to_end_reports_and_logs_instead_of_printing(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="persona_iaa")
    result = run_demo(tmp_path, epochs=1, seeds=2, resamples=200,
                      overrides=["train.stage2_epochs=2", "data.image_size=32", "data.crop_size=28"],
                      data_size=dict(n_train=40, n_val=8, n_test=16, n_personality=32, size=48),
                      people_size=dict(n_images=120, n_people=12, ratings_per_person=110, size=40))
    report = result["report"]
    assert "Aesthetic task only" in report and "Multi-task, w by least squares" in report
    assert "over 2 seed(s), mean ± sd" in report and " ± " in report.split("Aesthetic task only")[1]
    differences = result["table"]["difference"]
    some_not_significant = any(not d[m]["significant"] for d in differences.values() for m in d)
    assert "paired bootstrap" in report and ("not significant" in report) == some_not_significant
    order_line = next(line for line in report.splitlines() if line.startswith("  order (SROCC"))
    srocc_significant = differences["multitask_sgd"]["srocc"]["significant"]
    assert ("no significant difference" in order_line) == (not srocc_significant)
    assert "inter-task weights, SGD" in report and "not evidence for the paper's claims" in report
    assert "[personal]" in report and "100 ratings (few-shot)" in report
    assert report.count("\n  ") >= len(result["samples"]) == 5  # one line per scored test image
    steps = [r.getMessage() for r in caplog.records if r.name == "persona_iaa.demo"]
    assert [s[:5] for s in steps] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert "only aesthetic task" not in capsys.readouterr().out  # the library reports; the CLI prints
    for run in ("aesthetic_only", "multitask"):  # the first seed's runs, where serve looks
        assert (tmp_path / run / "model.safetensors").is_file()
        assert (tmp_path / "seeds" / "seed-1" / run / "model.safetensors").is_file()
    table = result["table"]
    assert table["n_test"] == [16, 16] and len(table["rows"]["multitask_sgd"]["srocc"]["values"]) == 2


def test_demo_rules_reward_good_exposure_and_sharpness():
    rng = np.random.default_rng(0)
    base = dict(exposure=0.6, sharpness=1.0, colourfulness=0.5, composition=1.0, darkness=0.0)
    dull = dict(base, exposure=0.05, sharpness=0.0)
    good = np.mean([aesthetic_score(base, rng) for _ in range(50)])
    bad = np.mean([aesthetic_score(dull, rng) for _ in range(50)])
    assert good - bad > 0.3
    dark = np.mean([liker_traits(dict(base, darkness=1.0), rng) for _ in range(50)], axis=0)
    light = np.mean([liker_traits(base, rng) for _ in range(50)], axis=0)
    assert dark[4] > light[4] + 0.8  # neuroticism follows darkness


def test_rendered_properties_are_visible():
    rng = np.random.default_rng(0)
    props = dict(exposure=0.9, sharpness=1.0, colourfulness=0.5, composition=1.0, darkness=0.0)
    bright = np.asarray(render(props, 48, rng), dtype=float).mean()
    dim = np.asarray(render(dict(props, exposure=0.1), 48, rng), dtype=float).mean()
    assert bright > 2 * dim


def test_a_stopped_demo_ends_in_one_line_and_the_signal_exit_status(monkeypatch, tmp_path, capsys):
    import signal

    import persona_iaa.demo
    from persona_iaa.cli import main
    from persona_iaa.training.protocol import TrainingInterrupted

    def stopped(*args, **kwargs):
        raise TrainingInterrupted(signal.SIGTERM, tmp_path / "multitask" / "checkpoints" / "stage1-1.pt")

    monkeypatch.setattr(persona_iaa.demo, "run_demo", stopped)
    assert main(["demo", "--output", str(tmp_path)]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert err == "demo stopped by SIGTERM; run it again to start over\n"
