"""Helpers shared by the test modules."""
from __future__ import annotations

from pathlib import Path

from persona_iaa.config import load_config
from persona_iaa.demo import builtin_config_path

SMALL_WORLD = dict(n_train=48, n_val=8, n_test=24, n_personality=40, size=48)


def tiny_config(output: Path, data: dict[str, str], *overrides: str):
    """The demo recipe shrunk for tests: 32 px images, 2 epochs."""
    return load_config(builtin_config_path("demo"), [
        f"data.aesthetic={data['aesthetic']}", f"data.personality={data['personality']}",
        "data.image_size=32", "data.crop_size=28", "data.batch_size=16",
        "train.epochs=2", "train.stage2_epochs=3", f"train.output={output}", *overrides,
    ])


def copy_without_personality(run: Path, destination: Path) -> Path:
    """A copy of a trained run recorded as trained without the personality task (as --no-personality
    writes it), for the tests of what such a model outputs."""
    import json
    import shutil

    shutil.copytree(run, destination, ignore=shutil.ignore_patterns("checkpoints", "*.onnx"))
    meta = json.loads((destination / "model.json").read_text())
    meta["personality_trained"] = False
    (destination / "model.json").write_text(json.dumps(meta))
    return destination
