"""Explain figures over the whole photo, flat maps said plainly, models without traits, plain-words output."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from persona_iaa import load_model
from persona_iaa.cli import main
from persona_iaa.demo import mark_demo_model, model_caveat
from persona_iaa.inference.explain import (
    _grad_cam,
    explain_image,
    explanation_figure,
    overlay_image,
    photo_map,
)
from persona_iaa.training.checkpoint import load_trained_model, read_meta

from ..helpers import copy_without_personality


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    image = Image.new("RGB", (120, 200), (40, 60, 120))
    image.paste((240, 200, 60), (30, 40, 80, 100))
    path = tmp_path_factory.mktemp("explain") / "portrait.png"
    image.save(path)
    return path


@pytest.fixture(scope="module")
def traitless_run(trained_run, tmp_path_factory) -> Path:
    """The trained run, recorded as trained without the personality task."""
    return copy_without_personality(trained_run, tmp_path_factory.mktemp("traitless") / "run")


def test_maps_cover_the_whole_photo_at_its_aspect_ratio(trained_run, portrait):
    model, preprocessing, _ = load_trained_model(trained_run, "cpu")
    explanation = explain_image(model, preprocessing, portrait)
    assert explanation.photo.shape == (200, 120, 3)
    heat = photo_map(explanation, "score")
    assert heat.shape == (200, 120)
    seen = ~np.isnan(heat)
    assert seen.any() and not seen.all()  # the margins the model never saw are left out
    assert seen[100, 60] and not seen[0, 0]
    overlay = overlay_image(explanation, "score")
    assert overlay.shape == (200, 120, 3) and overlay.dtype == np.uint8
    assert overlay[0, 0].sum() < explanation.photo[0, 0].sum()  # dimmed where unseen


def test_a_map_with_no_positive_part_is_flat_and_a_varied_one_is_not():
    features = torch.rand(1, 4, 5, 5, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    raised, flat = _grad_cam(features, (features * 2).sum(), (10, 10))
    assert not flat and raised.max() == pytest.approx(1.0)
    lowered, flat = _grad_cam(features, -features.sum(), (10, 10))
    assert flat and lowered.max() == 0


def test_flat_maps_are_drawn_uncoloured(trained_run, portrait):
    model, preprocessing, _ = load_trained_model(trained_run, "cpu")
    explanation = explain_image(model, preprocessing, portrait)
    explanation.flat["score"] = True
    unseen = np.isnan(photo_map(explanation, "score"))
    plain = overlay_image(explanation, "score")
    assert np.array_equal(plain[~unseen], explanation.photo[~unseen])


def test_a_model_without_the_personality_task_has_no_traits_and_no_radar(traitless_run, portrait, tmp_path):
    model, preprocessing, _ = load_trained_model(traitless_run, "cpu")
    explanation = explain_image(model, preprocessing, portrait, personality=False)
    assert explanation.traits == {} and explanation.targets == ("score",)
    figure = explanation_figure(explanation)
    assert not [ax for ax in figure.axes if ax.name == "polar"]
    (result,) = load_model(traitless_run, device="cpu", workers=0).score([portrait])
    assert result.ok and result.personality is None and result.as_row()["O"] is None
    output = tmp_path / "scores.csv"
    assert (
        main(
            [
                "score",
                "--checkpoint",
                str(traitless_run),
                str(portrait),
                "--output",
                str(output),
                "--workers",
                "0",
            ]
        )
        == 0
    )
    (row,) = csv.DictReader(output.open())
    assert row["score"] and all(row[t] == "" for t in "OCEAN")


def test_explain_says_in_plain_words_what_the_numbers_are(trained_run, portrait, tmp_path, capsys):
    assert (
        main(
            ["explain", "--checkpoint", str(trained_run), str(portrait), "--output", str(tmp_path / "h.png")]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert "final score" in out and "0 poor to 1 excellent" in out and "Openness" in out
    score = out.split("final score ")[1].split(",")[0]
    assert len(score.split(".")[1]) == 3
    assert "test-size model" in err


def test_a_demo_model_says_so(trained_run, tmp_path, capsys, portrait):
    run = tmp_path / "demo"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("checkpoints", "*.onnx"))
    mark_demo_model(run)
    meta = read_meta(run)
    assert meta["trained_on"]["demo"] is True and "demo model" in model_caveat(meta)
    assert model_caveat({"model": {"backbone": "densenet121"}}) is None
    assert main(["score", "--checkpoint", str(run), str(portrait), "--workers", "0"]) == 0
    assert "note: demo model" in capsys.readouterr().err
