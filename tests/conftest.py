"""Shared fixtures: a small generated demo world and one tiny trained run, made once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from persona_iaa.data.synthetic import make_demo_data

from .helpers import SMALL_WORLD, tiny_config


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> dict[str, str]:
    """``{"aesthetic": "aadb:...", "personality": "csv:..."}`` of a small generated world."""
    return make_demo_data(tmp_path_factory.mktemp("world"), **SMALL_WORLD)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, demo_data) -> Path:
    """A run directory of a tiny multi-task model trained on ``demo_data`` (read-only for tests)."""
    from persona_iaa.training.protocol import train

    run_dir = tmp_path_factory.mktemp("run") / "multitask"
    train(tiny_config(run_dir, demo_data))
    return run_dir
