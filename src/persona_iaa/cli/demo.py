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
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")


@command("demo", "generate the demo world, train aesthetic-only and multi-task models, compare them",
         add_arguments)
def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..training.protocol import TrainingInterrupted

    try:
        result = run_demo(Path(args.output), config_path=args.config, epochs=args.epochs,
                          overrides=args.overrides)
    except TrainingInterrupted as stopped:  # the demo starts its runs afresh: there is nothing to resume
        name = signal.Signals(stopped.signum).name
        print(f"demo stopped by {name}; run it again to start over", file=sys.stderr)
        return 128 + stopped.signum
    print(f"\n{result['report']}")
    return EXIT_OK
