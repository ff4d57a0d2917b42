"""``persona-iaa score``: exit 0 when every image was scored, 3 when some failed (error rows), 2 on usage
errors."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..constants import SCORE_ENGINES, SCORE_PRECISIONS
from . import EXIT_OK, EXIT_PARTIAL, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR",
                   help="run directory or model .safetensors")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or @list.txt")
    p.add_argument("--output", metavar="FILE",
                   help="result file: .csv, .jsonl or .parquet (default: CSV on stdout)")
    p.add_argument("--resume", action="store_true", help="continue FILE: skip paths already in it")
    p.add_argument("--overwrite", action="store_true",
                   help="replace FILE if it already holds results (without --resume or this, it is refused)")
    p.add_argument("--sort", type=int, metavar="N", help="print the top and bottom N images by final score")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="images per model call (default: 8 on CPU, 32 on GPU)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="decoding processes (default: one per CPU core; 0: decode in this process)")
    p.add_argument("--precision", default="fp32", choices=SCORE_PRECISIONS,
                   help="bf16: autocast, faster on CPUs with bf16")
    p.add_argument("--engine", default="auto", choices=SCORE_ENGINES,
                   help="onnx: onnxruntime on the exported model; auto (default): onnx for fp32 on CPUs, "
                        "else torch")
    p.add_argument("--fast-decode", action="store_true",
                   help="decode JPEGs at reduced size (much faster on large photos; scores change by ~1e-3)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="batches scored at once, one thread each on CPU (default: one per core, at most 8)")
    p.add_argument("--device", default="auto")


def check_arguments(args: argparse.Namespace) -> None:
    """Usage errors found before the model loads (seconds) rather than after."""
    from ..errors import ConfigError
    from ..inference.writers import output_format

    if args.resume and not args.output:
        raise ConfigError("--resume needs --output FILE")
    if args.resume and args.overwrite:
        raise ConfigError("--resume continues FILE and --overwrite replaces it: choose one")
    if args.sort is not None and args.sort < 1:
        raise ConfigError("--sort needs a positive number of images")
    if args.output:
        output_format(args.output)
        if not (args.resume or args.overwrite):
            refuse_existing_results(Path(args.output))


def refuse_existing_results(output: Path) -> None:
    """A result file (or a Parquet run's journal) that holds rows is kept unless the user says otherwise."""
    from ..errors import ConfigError
    from ..inference.writers import journal_path

    for existing in (output, journal_path(output)):
        if existing.is_file() and existing.stat().st_size > 0:
            raise ConfigError(f"{existing} already holds results: continue it with --resume, or replace it "
                              "with --overwrite")


@command("score", "score images, folders or @lists with a trained model", add_arguments)
def cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import load_model
    from ..constants import IMAGE_EXTENSIONS
    from ..errors import DataError
    from ..inference.inputs import iter_image_paths
    from ..inference.writers import Ranking, open_result_writer, read_rows

    check_arguments(args)
    predictor = load_model(args.checkpoint, device=args.device, batch_size=args.batch_size,
                           workers=args.workers, precision=args.precision, engine=args.engine,
                           fast_decode=args.fast_decode, threads=args.threads)
    skipped: list = []
    paths = list(iter_image_paths(args.inputs, skipped))
    if not paths:
        raise DataError(f"no images found in {' '.join(args.inputs)} (image extensions: "
                        f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
    ranking = Ranking(args.sort) if args.sort else None
    writer = open_result_writer(args.output, resume=args.resume)
    failed = 0
    try:
        if args.resume:
            done = set()
            for row in read_rows(args.output):
                done.add(row["path"])
                failed += row["error"] is not None
                if ranking:
                    ranking.add(row)
            paths = [p for p in paths if p not in done]
        progress = tqdm(predictor.score(paths), total=len(paths), unit="img", disable=None,
                        desc=f"score ({predictor.engine_name}, {args.precision})")
        for result in progress:
            row = result.as_row()
            writer.write(row)
            failed += not result.ok
            if ranking:
                ranking.add(row)
    finally:
        writer.close()
    if ranking:
        print(ranking.format(), file=sys.stdout if args.output else sys.stderr)
    if failed:
        print(f"{failed} image(s) could not be scored (see the error column)", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} folder(s) could not be read; their images were skipped", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK
