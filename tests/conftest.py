"""Shared fixtures: a small generated demo world and one tiny trained run, made once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from persona_iaa.config import load_config
from persona_iaa.data.synthetic import make_demo_data
from persona_iaa.demo import builtin_config_path

SMALL_WORLD = dict(n_train=48, n_val=8, n_test=24, n_personality=40, size=48)


def tiny_config(output: Path, data: dict[str, str], *overrides: str):
    """The demo recipe shrunk for tests: 32 px images, 2 epochs."""
    return load_config(builtin_config_path("demo"), [
        f"data.aesthetic={data['aesthetic']}", f"data.personality={data['personality']}",
        "data.image_size=32", "data.crop_size=28", "data.batch_size=16",
        "train.epochs=2", "train.stage2_epochs=3", f"train.output={output}", *overrides,
    ])


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
