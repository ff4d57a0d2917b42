"""``persona-iaa train``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import EXIT_OK, command

if TYPE_CHECKING:
    from ..config import Config, ConfigFlag


#: What a flag does beyond setting its config key.
_FLAG_NOTES = {"data.image_size": "; the crop follows at 7/8 unless --crop-size"}


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """--config, --resume, one flag per config key marked in persona_iaa.config, then KEY=VALUE overrides."""
    from ..config import config_flags

    p.add_argument("--config", help="YAML config (configs/aadb.yaml, configs/ava.yaml, configs/demo.yaml)")
    for flag in config_flags():
        add_config_flag(p, flag)
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its latest checkpoint (its config.yaml, plus any "
                        "flags and KEY=VALUE given here)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="any config key, e.g. optim.lr_heads=1e-3")


def add_config_flag(p: argparse.ArgumentParser, flag: "ConfigFlag") -> None:
    """A flag that, given, overrides the config file (its own default is None); its help shows the key's."""
    text = flag.help + _FLAG_NOTES.get(flag.key, "")
    if flag.default is not None:
        text += f" (default: {str(flag.default).lower() if flag.kind is bool else flag.default})"
    text = text.replace("%", "%%")
    if flag.kind is bool:
        p.add_argument(flag.flag, dest=flag.dest, action=argparse.BooleanOptionalAction, default=None,
                       help=text)
    else:
        p.add_argument(flag.flag, dest=flag.dest, type=flag.kind, choices=flag.choices, metavar=flag.metavar,
                       default=None, help=text)


def config_from_args(args: argparse.Namespace) -> "Config":
    """Config file (``RUN_DIR/config.yaml`` with --resume) <- positional KEY=VALUE overrides <- flags."""
    from ..config import config_flags, load_config
    from ..errors import ConfigError

    config_file = args.config
    if getattr(args, "resume", None):
        config_file = Path(args.resume) / "config.yaml"
        if args.config:
            raise ConfigError("--resume continues with RUN_DIR/config.yaml; "
                              "--config cannot be combined with it")
        if not config_file.is_file():
            raise ConfigError(f"{args.resume} is not a run directory (no config.yaml): nothing to resume")
        args.output = args.resume
    given = {flag.key: getattr(args, flag.dest, None) for flag in config_flags()}
    overrides = [f"{key}={json.dumps(value) if isinstance(value, str) else value}"
                 for key, value in given.items() if value is not None]
    if args.image_size is not None and args.crop_size is None:
        overrides.append(f"data.crop_size={round(args.image_size * 7 / 8)}")
    return load_config(config_file, list(args.overrides) + overrides)


@command("train", "train the multi-task model (stage 1 + stage 2) and write a run directory",
         add_training_arguments)
def cmd_train(args: argparse.Namespace) -> int:
    from ..evaluation.report import metrics_table, weights_table
    from ..training.distributed import launched_rank
    from ..training.protocol import TrainingInterrupted, train

    config = config_from_args(args)
    try:
        result = train(config, resume=bool(args.resume))
    except TrainingInterrupted as stopped:
        if launched_rank() == 0:
            print(f"{stopped}\ncontinue with: persona-iaa train --resume {config.train.output}",
                  file=sys.stderr)
        return 128 + stopped.signum
    if launched_rank() != 0:
        return EXIT_OK
    name = "aesthetic task only" if not config.train.personality else "multi-task"
    print(metrics_table({f"{name} (test)": result["test"]}))
    print("inter-task weights:", weights_table(result["inter_task_weights"]))
    print(f"run directory: {config.train.output}")
    return EXIT_OK
