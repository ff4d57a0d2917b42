"""Fixtures: a generated people world in the PARA layout and a writable copy of the tiny trained run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from persona_iaa.personal.world import make_people_world

PEOPLE_WORLD = dict(n_images=260, n_people=30, ratings_per_person=140, size=40)


@pytest.fixture(scope="session")
def people_world(tmp_path_factory) -> dict[str, Any]:
    return make_people_world(tmp_path_factory.mktemp("people") / "para", **PEOPLE_WORLD)


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    """The session's trained run copied, since calibration and the output cache write beside the model."""
    target = tmp_path / "run"
    shutil.copytree(trained_run, target, ignore=shutil.ignore_patterns("checkpoints"))
    return target
