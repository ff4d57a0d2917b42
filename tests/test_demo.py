"""The built-in demo runs end to end and its rules make learning checkable."""
from __future__ import annotations

import numpy as np

from persona_iaa.data.synthetic import aesthetic_score, liker_traits, render
from persona_iaa.demo import run_demo


def test_demo_end_to_end(tmp_path, capsys):
    result = run_demo(tmp_path, epochs=1, overrides=["train.stage2_epochs=2", "data.image_size=32", "data.crop_size=28"],
                      data_size=dict(n_train=40, n_val=8, n_test=16, n_personality=32, size=48),
                      people_size=dict(n_images=120, n_people=12, ratings_per_person=110, size=40))
    out = capsys.readouterr().out
    assert "[personal]" in out and "100 ratings (few-shot)" in out
    assert "only aesthetic task" in out and "multi-task, w by least squares" in out
    assert "inter-task weights, SGD" in out and "not evidence for the paper's claims" in out
    for run in ("aesthetic_only", "multitask"):
        assert (tmp_path / run / "model.safetensors").is_file()
    assert result["rows"]["only aesthetic task"]["n"] == 16


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
