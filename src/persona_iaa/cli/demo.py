"""``persona-iaa demo``."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import EXIT_OK, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default="runs/demo", metavar="DIR")
    p.add_argument("--config", default=None, help="defaults to the built-in demo recipe (configs/demo.yaml)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=3, help="seeds per model; the report gives mean ± sd and "
                   "whether the difference is significant (default: 3)")
    p.add_argument("--data-only", action="store_true",
                   help="only generate the demo world under DIR/data (for reproduce and studies)")
    p.add_argument("--train-images", type=int, default=250, metavar="N",
                   help="aesthetic training images in the generated world (default: 250)")
    p.add_argument("--world-seed", type=int, default=0, metavar="N",
                   help="seed of the generated world: another seed draws a held-out world of the same kind")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")


def generate_only(args: argparse.Namespace) -> int:
    from ..data.synthetic import make_demo_data

    data = make_demo_data(Path(args.output) / "data", n_train=args.train_images, seed=args.world_seed)
    print(f"demo world written: --aesthetic-data {data['aesthetic']} "
          f"--personality-data {data['personality']}")
    return EXIT_OK


@command("demo", "generate the demo world, train aesthetic-only and multi-task models over seeds, "
                 "compare them",
         add_arguments)
def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..errors import ConfigError
    from ..training.protocol import TrainingInterrupted

    if args.train_images < 2:
        raise ConfigError("--train-images must be at least 2")
    if args.data_only:
        return generate_only(args)
    try:
        result = run_demo(Path(args.output), config_path=args.config, epochs=args.epochs,
                          overrides=args.overrides, seeds=args.seeds,
                          data_size={"n_train": args.train_images, "seed": args.world_seed})
    except TrainingInterrupted as stopped:  # the demo starts its runs afresh: there is nothing to resume
        name = signal.Signals(stopped.signum).name
        print(f"demo stopped by {name}; run it again to start over", file=sys.stderr)
        return 128 + stopped.signum
    print(f"\n{result['report']}")
    return EXIT_OK
