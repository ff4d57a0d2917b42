"""``persona-iaa score``: exit 0 when every image was scored, 3 when some failed (error rows), 2 on usage errors."""
from __future__ import annotations

import argparse
import sys

from . import EXIT_OK, EXIT_PARTIAL, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inference.engine import ENGINES, PRECISIONS

    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="run directory or model .safetensors")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or @list.txt")
    p.add_argument("--output", metavar="FILE", help="result file: .csv, .jsonl or .parquet (default: CSV on stdout)")
    p.add_argument("--resume", action="store_true", help="continue FILE: skip paths already in it")
    p.add_argument("--sort", type=int, metavar="N", help="print the top and bottom N images by final score")
    p.add_argument("--batch-size", type=int, metavar="N", help="images per model call (default: 8 on CPU, 32 on GPU)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="decoding processes (default: one per CPU core; 0: decode in this process)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS, help="bf16: autocast, faster on CPUs with bf16")
    p.add_argument("--engine", default="auto", choices=ENGINES,
                   help="onnx: onnxruntime on the exported model; auto (default): onnx for fp32 on CPUs, else torch")
    p.add_argument("--fast-decode", action="store_true",
                   help="decode JPEGs at reduced size (much faster on large photos; scores change by ~1e-3)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="batches scored at once, one thread each on CPU (default: one per core, at most 8)")
    p.add_argument("--device", default="auto")
    p.add_argument("--profile", metavar="JSON",
                   help="a person's profile: adds a personal column (and --sort ranks by it)")


@command("score", "score images, folders or @lists with a trained model", add_arguments)
def cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import load_model
    from ..errors import ConfigError
    from ..inference.engine import RESULT_COLUMNS
    from ..inference.inputs import iter_image_paths
    from ..inference.writers import Ranking, open_result_writer, output_format, read_rows

    if args.resume and not args.output:
        raise ConfigError("--resume needs --output FILE")
    if args.sort is not None and args.sort < 1:
        raise ConfigError("--sort needs a positive number of images")
    if args.output:
        output_format(args.output)
    predictor = load_model(args.checkpoint, device=args.device, batch_size=args.batch_size, workers=args.workers,
                           precision=args.precision, engine=args.engine, fast_decode=args.fast_decode,
                           threads=args.threads)
    scorer, columns = predictor, RESULT_COLUMNS
    if args.profile:
        from ..personal.scoring import PERSONAL_COLUMNS

        scorer, columns = predictor.personalize(args.profile), PERSONAL_COLUMNS
    paths = list(iter_image_paths(args.inputs))
    ranking = Ranking(args.sort, "personal" if args.profile else "score") if args.sort else None
    writer = open_result_writer(args.output, resume=args.resume, columns=columns)
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
        progress = tqdm(scorer.score(paths), total=len(paths), unit="img", disable=None,
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
    return EXIT_PARTIAL if failed else EXIT_OK
