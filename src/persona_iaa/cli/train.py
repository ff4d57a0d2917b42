"""``persona-iaa train``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import EXIT_OK, command


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (configs/aadb.yaml, configs/ava.yaml, configs/demo.yaml)")
    p.add_argument("--aesthetic-data", metavar="FORMAT:PATH", help="aesthetic dataset, e.g. aadb:/data/AADB")
    p.add_argument("--personality-data", metavar="FORMAT:PATH", help="personality dataset, e.g. csv:traits.csv")
    p.add_argument("--backbone", help="densenet121 (default), densenet169, mobilenet_v2, resnet50, tiny, timm:NAME")
    p.add_argument("--backbone-weights", metavar="imagenet|none|FILE", help="backbone initialisation")
    p.add_argument("--epochs", type=int, help="stage-1 epochs (paper: 20)")
    p.add_argument("--stage2-epochs", type=int, help="stage-2 epochs for the inter-task weights")
    p.add_argument("--image-size", type=int, help="resize side (paper: 256); the crop follows at 7/8 unless --crop-size")
    p.add_argument("--crop-size", type=int, help="crop side (paper: 224)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--workers", type=int, help="data-loading worker processes")
    p.add_argument("--no-personality", action="store_true", help="aesthetic task only (the paper's baseline row)")
    p.add_argument("--inter-task-solver", choices=("sgd", "lstsq"), help="stage 2: the paper's SGD or exact least squares")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--output", metavar="RUN_DIR", help="run directory (config, metrics, model)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its latest checkpoint (its config.yaml, plus any "
                        "flags and KEY=VALUE given here)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                   help="autocast precision (fp16: CUDA only, with a gradient scaler)")
    p.add_argument("--channels-last", action="store_true", default=None, help="NHWC memory format")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the training forward")
    p.add_argument("--log-every", type=int, metavar="STEPS", help="stage-1 steps per report row (default 50)")
    p.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="also checkpoint every STEPS stage-1 steps (epoch ends always checkpoint)")
    p.add_argument("--checkpoint-minutes", type=float, metavar="MIN", help="also checkpoint every MIN minutes (default 10)")
    p.add_argument("--keep-last", type=int, metavar="K", help="checkpoints kept in RUN_DIR/checkpoints (default 3)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="any config key, e.g. optim.lr_heads=1e-3")


def config_from_args(args: argparse.Namespace):
    """Config file (``RUN_DIR/config.yaml`` with --resume) <- positional KEY=VALUE overrides <- explicit flags."""
    from ..config import load_config
    from ..errors import ConfigError

    config_file = args.config
    if getattr(args, "resume", None):
        config_file = Path(args.resume) / "config.yaml"
        if args.config:
            raise ConfigError("--resume continues with RUN_DIR/config.yaml; --config cannot be combined with it")
        if not config_file.is_file():
            raise ConfigError(f"{args.resume} is not a run directory (no config.yaml): nothing to resume")
        args.output = args.resume
    flags = {
        "data.aesthetic": args.aesthetic_data, "data.personality": args.personality_data,
        "model.backbone": args.backbone, "model.backbone_weights": args.backbone_weights,
        "train.epochs": args.epochs, "train.stage2_epochs": args.stage2_epochs,
        "data.image_size": args.image_size, "data.crop_size": args.crop_size,
        "data.batch_size": args.batch_size, "data.workers": args.workers,
        "train.inter_task_solver": args.inter_task_solver, "train.seed": args.seed,
        "train.device": args.device, "train.output": args.output,
        **{f"train.{key}": getattr(args, key, None) for key in (
            "precision", "channels_last", "compile", "log_every", "checkpoint_every", "checkpoint_minutes", "keep_last")},
    }
    overrides = [f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in flags.items() if v is not None]
    if args.image_size is not None and args.crop_size is None:
        overrides.append(f"data.crop_size={round(args.image_size * 7 / 8)}")
    if args.no_personality:
        overrides.append("train.personality=false")
    return load_config(config_file, list(args.overrides) + overrides)


@command("train", "train the multi-task model (stage 1 + stage 2) and write a run directory", add_training_arguments)
def cmd_train(args: argparse.Namespace) -> int:
    from ..evaluation.report import metrics_table, weights_table
    from ..training.distributed import launched_rank
    from ..training.protocol import TrainingInterrupted, train

    config = config_from_args(args)
    try:
        result = train(config, resume=bool(args.resume))
    except TrainingInterrupted as stopped:
        if launched_rank() == 0:
            print(f"{stopped}\ncontinue with: persona-iaa train --resume {config.train.output}", file=sys.stderr)
        return 128 + stopped.signum
    if launched_rank() != 0:
        return EXIT_OK
    name = "aesthetic task only" if not config.train.personality else "multi-task"
    print(metrics_table({f"{name} (test)": result["test"]}))
    print("inter-task weights:", weights_table(result["inter_task_weights"]))
    print(f"run directory: {config.train.output}")
    return EXIT_OK
