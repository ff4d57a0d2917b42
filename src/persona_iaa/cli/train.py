"""``persona-iaa train``."""
from __future__ import annotations

import argparse
import json

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
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="any config key, e.g. optim.lr_heads=1e-3")


def config_from_args(args: argparse.Namespace):
    """Config file <- positional KEY=VALUE overrides <- explicit flags (flags win)."""
    from ..config import load_config

    flags = {
        "data.aesthetic": args.aesthetic_data, "data.personality": args.personality_data,
        "model.backbone": args.backbone, "model.backbone_weights": args.backbone_weights,
        "train.epochs": args.epochs, "train.stage2_epochs": args.stage2_epochs,
        "data.image_size": args.image_size, "data.crop_size": args.crop_size,
        "data.batch_size": args.batch_size, "data.workers": args.workers,
        "train.inter_task_solver": args.inter_task_solver, "train.seed": args.seed,
        "train.device": args.device, "train.output": args.output,
    }
    overrides = [f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in flags.items() if v is not None]
    if args.image_size is not None and args.crop_size is None:
        overrides.append(f"data.crop_size={round(args.image_size * 7 / 8)}")
    if args.no_personality:
        overrides.append("train.personality=false")
    return load_config(args.config, list(args.overrides) + overrides)


@command("train", "train the multi-task model (stage 1 + stage 2) and write a run directory", add_training_arguments)
def cmd_train(args: argparse.Namespace) -> int:
    from ..evaluation.report import metrics_table, weights_table
    from ..training.protocol import train

    config = config_from_args(args)
    result = train(config)
    name = "aesthetic task only" if not config.train.personality else "multi-task"
    print(metrics_table({f"{name} (test)": result["test"]}))
    print("inter-task weights:", weights_table(result["inter_task_weights"]))
    print(f"run directory: {config.train.output}")
    return EXIT_OK
