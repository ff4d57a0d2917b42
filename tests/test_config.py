"""Config: paper defaults, YAML files, key=value overrides, clear errors."""
from __future__ import annotations

import pytest

from persona_iaa.cli.train import add_training_arguments, config_from_args
from persona_iaa.config import Config, load_config
from persona_iaa.demo import builtin_config_path
from persona_iaa.errors import ConfigError


def test_defaults_are_the_papers():
    config = Config()
    assert config.model.backbone == "densenet121" and config.model.backbone_weights == "imagenet"
    assert (config.data.image_size, config.data.crop_size) == (256, 224)
    assert (config.optim.momentum, config.optim.weight_decay) == (0.9, 1e-5)
    assert (config.optim.lr_backbone, config.optim.lr_heads, config.optim.lr_inter_task) == (1e-5, 1e-4, 1e-4)
    assert config.optim.lr_decay == 0.9 and config.train.epochs == 20


@pytest.mark.parametrize("name", ["ava", "aadb", "demo"])
def test_shipped_configs_load(name):
    config = load_config(builtin_config_path(name))
    assert config.model.hidden_dims == [1024, 512]


def test_overrides_reach_any_key_and_keep_types(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  batch_size: 8\noptim:\n  lr_heads: 0.5\n")
    config = load_config(path, ["optim.lr_heads=1e-3", "model.hidden_dims=[64, 32]",
                                "data.aesthetic_options.score_range=[1, 10]", "train.personality=false"])
    assert config.data.batch_size == 8
    assert config.optim.lr_heads == pytest.approx(1e-3)
    assert config.model.hidden_dims == [64, 32]
    assert config.data.aesthetic_options == {"score_range": [1, 10]}
    assert config.train.personality is False


def test_saved_config_reloads_identically(tmp_path):
    config = load_config(None, ["data.batch_size=7", "train.seed=3"])
    config.save(tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize("override, message", [
    ("data.bogus=1", "unknown config key 'data.bogus'"),
    ("data.batch_size=many", "data.batch_size: expected int"),
    ("batch_size", "not KEY=VALUE"),
])
def test_bad_overrides_are_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_cli_flags_win_over_config_and_crop_follows_image_size():
    import argparse

    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    args = parser.parse_args(["--config", str(builtin_config_path("aadb")), "--image-size", "64", "--epochs", "2",
                              "--backbone", "tiny", "--no-personality", "data.batch_size=4"])
    config = config_from_args(args)
    assert (config.data.image_size, config.data.crop_size) == (64, 56)
    assert config.train.epochs == 2 and config.model.backbone == "tiny" and config.train.personality is False
    assert config.data.batch_size == 4 and config.data.aesthetic == "aadb:data/AADB"
