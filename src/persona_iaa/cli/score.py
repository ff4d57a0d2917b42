"""``persona-iaa score``."""
from __future__ import annotations

import argparse
import csv
import sys

from . import EXIT_OK, EXIT_PARTIAL, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="files, folders (recursive) or @list.txt")
    p.add_argument("--output", metavar="FILE", help="CSV output (default: print to stdout)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")


@command("score", "score images, folders or @lists with a trained model", add_arguments)
def cmd_score(args: argparse.Namespace) -> int:
    from .. import load_model
    from ..inference.inputs import iter_image_paths

    predictor = load_model(args.checkpoint, device=args.device)
    handle = open(args.output, "w", newline="") if args.output else sys.stdout
    failed = 0
    try:
        writer = None
        for result in predictor.score(iter_image_paths(args.inputs), batch_size=args.batch_size):
            row = result.as_row()
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            failed += not result.ok
    finally:
        if args.output:
            handle.close()
    if failed:
        print(f"{failed} image(s) could not be scored (see the error column)", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK
