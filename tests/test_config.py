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
    args = parser.parse_args(["--config", str(builtin_config_path("aadb")), "--image-size", "64",
                              "--epochs", "2",
                              "--backbone", "tiny", "--no-personality", "data.batch_size=4"])
    config = config_from_args(args)
    assert (config.data.image_size, config.data.crop_size) == (64, 56)
    assert config.train.epochs == 2 and config.model.backbone == "tiny" and config.train.personality is False
    assert config.data.batch_size == 4 and config.data.aesthetic == "aadb:data/AADB"


def _train_args(argv):
    import argparse

    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    return parser.parse_args(argv)


def test_every_existing_train_flag_still_sets_its_key():
    argv = ["--aesthetic-data", "csv:a.csv", "--personality-data", "csv:p.csv", "--backbone", "tiny",
            "--backbone-weights", "none", "--epochs", "3", "--stage2-epochs", "4", "--image-size", "64",
            "--crop-size", "60", "--batch-size", "5", "--workers", "0", "--no-personality",
            "--inter-task-solver", "lstsq", "--seed", "7", "--device", "cpu", "--output", "runs/x",
            "--precision", "bf16", "--channels-last", "--compile", "--log-every", "9",
            "--checkpoint-every", "11",
            "--checkpoint-minutes", "2.5", "--keep-last", "1"]
    c = config_from_args(_train_args(argv))
    assert (c.data.aesthetic, c.data.personality) == ("csv:a.csv", "csv:p.csv")
    assert (c.model.backbone, c.model.backbone_weights) == ("tiny", "none")
    assert (c.train.epochs, c.train.stage2_epochs, c.data.image_size, c.data.crop_size) == (3, 4, 64, 60)
    assert (c.data.batch_size, c.data.workers, c.train.personality) == (5, 0, False)
    assert c.train.inter_task_solver == "lstsq"
    assert (c.train.seed, c.train.device, c.train.output, c.train.precision) == (7, "cpu", "runs/x", "bf16")
    assert c.train.channels_last is True and c.train.compile is True
    assert (c.train.log_every, c.train.checkpoint_every) == (9, 11)
    assert (c.train.checkpoint_minutes, c.train.keep_last) == (2.5, 1)


def test_train_flags_follow_the_dataclasses_in_values_help_and_defaults(capsys):
    """Each flag reaches its key; its help names the dataclass default; no flag means the config's value."""
    from persona_iaa.cli import main
    from persona_iaa.config import config_flags

    defaults = Config()
    flags = config_flags()
    keys = {f.key for f in flags}
    assert {"train.epochs", "data.aesthetic", "train.personality", "train.keep_last"} <= keys
    unset = config_from_args(_train_args([]))
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for flag in flags:
        section, name = flag.key.split(".")
        default = getattr(getattr(defaults, section), name)
        assert getattr(getattr(unset, section), name) == default
        if flag.kind is bool:
            argv, expected = [f"--no-{flag.flag[2:]}" if default else flag.flag], not default
            assert f"(default: {str(default).lower()})" in help_text
        else:
            value = (flag.choices or ("x",))[-1] if flag.kind is str else flag.kind(3)
            argv, expected = [flag.flag, str(value)], value
            if default is not None:
                assert f"(default: {default})" in help_text and flag.flag in help_text
        config = config_from_args(_train_args(argv))
        assert getattr(getattr(config, section), name) == expected, flag.key


def test_flags_win_over_the_config_both_ways_for_switches(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  compile: true\n  personality: false\n")
    config = config_from_args(_train_args(["--config", str(path), "--no-compile", "--personality"]))
    assert config.train.compile is False and config.train.personality is True


def test_config_save_is_atomic(tmp_path, monkeypatch):
    """A save interrupted before its rename leaves the previous file whole and no stray temporary file."""
    import os

    path = tmp_path / "config.yaml"
    load_config(None, ["train.seed=1"]).save(path)
    before = path.read_bytes()

    def killed(*args):
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(OSError, match="killed"):
        load_config(None, ["train.seed=2", "data.batch_size=3"]).save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
