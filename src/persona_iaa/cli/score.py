"""``persona-iaa score``: exit 0 when every image was scored, 3 when some failed (error rows), 2 on usage
errors."""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..constants import SCORE_ENGINES, SCORE_PRECISIONS
from . import EXIT_OK, EXIT_PARTIAL, command

if TYPE_CHECKING:
    from ..inference.sharding import Shard
    from ..inference.xmp import XmpOptions


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
    p.add_argument("--precision", choices=SCORE_PRECISIONS,
                   help="bf16: autocast, faster on CPUs with bf16 (default: bf16 on CUDA GPUs that support "
                        "it, else fp32)")
    p.add_argument("--engine", default="auto", choices=SCORE_ENGINES,
                   help="onnx: onnxruntime on the exported model; auto (default): onnx for fp32 on CPUs, "
                        "else torch")
    p.add_argument("--fast-decode", action="store_true",
                   help="decode JPEGs at reduced size (much faster on large photos; scores change by ~1e-3)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="batches scored at once, one thread each on CPU (default: one per core, at most 8)")
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, cuda:N or auto; under torchrun each rank uses cuda:LOCAL_RANK "
                        "(or the CPU)")
    p.add_argument("--shard", metavar="I/N",
                   help="score only share I of N (0-based, contiguous in input order) into --output, for job "
                        "arrays; join the parts with persona-iaa merge")
    p.add_argument("--gpu-decode", action="store_true",
                   help="CUDA only: decode plain JPEGs on the GPU (nvJPEG), for the decode-bound case; "
                        "anything it refuses is decoded on the CPU as usual")
    p.add_argument("--profile", metavar="JSON",
                   help="a person's profile: adds a personal column (and --sort ranks by it)")
    add_output_arguments(p)


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of the result file and the XMP sidecars."""
    from ..constants import XMP_NAMINGS as NAMINGS
    from ..constants import XMP_STAR_METHODS as STAR_METHODS

    p.add_argument("--csv-safe", action=argparse.BooleanOptionalAction, default=True,
                   help="CSV: prefix cells starting with = + - @ (or tab, CR) with ' so spreadsheets do not "
                        "run them as formulas; read back exactly by --resume (resume with the same setting)")
    p.add_argument("--write-xmp", action="store_true",
                   help="after scoring, write an XMP sidecar per photo: xmp:Rating stars, scores and traits "
                        "(existing sidecars are updated in place; photos are never modified)")
    p.add_argument("--stars", choices=STAR_METHODS,
                   help="quantile (default): fifths of this run's scores get 1-5 stars; "
                        "fixed: thresholds on the score")
    p.add_argument("--star-thresholds", metavar="T2,T3,T4,T5",
                   help="the scores where 2, 3, 4 and 5 stars start "
                        "(implies --stars fixed; default 0.4,0.5,0.6,0.7)")
    p.add_argument("--xmp-naming", choices=NAMINGS,
                   help="darktable: photo.jpg.xmp; lightroom: photo.xmp; auto (default): the existing one, "
                        "else photo.jpg.xmp")


def check_arguments(args: argparse.Namespace) -> None:
    """Usage errors found before the model loads (seconds) rather than after."""
    from ..errors import ConfigError
    from ..inference.writers import check_output

    if args.resume and not args.output:
        raise ConfigError("--resume needs --output FILE")
    if args.resume and args.overwrite:
        raise ConfigError("--resume continues FILE and --overwrite replaces it: choose one")
    if args.sort is not None and args.sort < 1:
        raise ConfigError("--sort needs a positive number of images")
    if args.output:
        check_output(args.output)
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
    from ..inference.collection import expand_inputs, score_collection, score_ranks, score_share
    from ..inference.engine import RESULT_COLUMNS
    from ..inference.sharding import default_precision, rank_device
    from ..inference.writers import Ranking, read_rows

    shard, ranks = _sharding(args)
    check_arguments(args)
    xmp = _xmp_options(args)
    device = rank_device(args.device) if ranks else args.device
    args.precision = args.precision or default_precision(device)
    gpu_decode = {"gpu_decode": _gpu_decode(device)} if args.gpu_decode else {}
    predictor = load_model(args.checkpoint, device=device, batch_size=args.batch_size,
                           workers=args.workers, precision=args.precision, engine=args.engine,
                           fast_decode=args.fast_decode, threads=args.threads, **gpu_decode)
    skipped: list = []
    paths = expand_inputs(args.inputs, skipped)
    scorer, columns = predictor, RESULT_COLUMNS
    if args.profile:
        from ..personal.scoring import PERSONAL_COLUMNS

        scorer, columns = predictor.personalize(args.profile), PERSONAL_COLUMNS
    ranking = Ranking(args.sort, "personal" if args.profile else "score") if args.sort else None
    options = {"resume": args.resume, "csv_safe": args.csv_safe, "columns": columns}
    if ranks:
        if score_ranks(scorer, paths, args.output, **options) is None:
            return EXIT_OK  # rank 0 reports for the whole run
        failed = 0
        for row in read_rows(args.output, csv_safe=args.csv_safe):
            failed += row["error"] is not None
            if ranking:
                ranking.add(row)
        kept: list = []
    else:
        bar = functools.partial(tqdm, unit="img", disable=None,
                                desc=f"score ({predictor.engine_name}, {args.precision})")
        rest = {"ranking": ranking, "keep": bool(xmp and not args.output), "progress": bar, **options}
        run = (score_share(scorer, paths, args.output, shard, **rest) if shard
               else score_collection(scorer, paths, args.output, **rest))
        failed, kept = run.failed, run.kept
    if ranking:
        print(ranking.format(), file=sys.stdout if args.output else sys.stderr)
        print("final score = aesthetic score s_a (0 poor to 1 excellent) plus the model's trait term; "
              "higher is "
              "better; compare photos with each other", file=sys.stdout if args.output else sys.stderr)
    if failed:
        print(f"{failed} image(s) could not be scored (see the error column)", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} folder(s) could not be read; their images were skipped", file=sys.stderr)
    sidecar_problems = _write_xmp(args, xmp, kept) if xmp else 0
    _print_caveat(predictor.meta)
    return EXIT_PARTIAL if failed or sidecar_problems else EXIT_OK


def _print_caveat(meta: dict) -> None:
    """Last, under the results: a demo or test-size model is named as such (not before an error line)."""
    from ..demo import model_caveat

    caveat = model_caveat(meta)
    if caveat:
        print(f"note: {caveat}", file=sys.stderr)


def _gpu_decode(device: str) -> bool:
    """``--gpu-decode`` is refused off CUDA rather than silently ignored."""
    from ..errors import ConfigError
    from ..runtime import resolve_device

    if resolve_device(device).type != "cuda":
        raise ConfigError("--gpu-decode needs a CUDA device (--device cuda)")
    return True


def _sharding(args: argparse.Namespace) -> tuple[Optional["Shard"], bool]:
    """(``--shard`` share or None, whether this process is one torchrun rank of several)."""
    from ..errors import ConfigError
    from ..inference.sharding import Shard, part_path, under_torchrun

    ranks = under_torchrun()
    shard = Shard.parse(args.shard) if args.shard else None
    if ranks and shard:
        raise ConfigError("--shard is for job arrays; under torchrun each rank takes its share itself")
    if (ranks or shard) and not args.output:
        raise ConfigError("--shard and torchrun need --output FILE (each share is written to a file)")
    if ranks and not (args.resume or args.overwrite):
        refuse_existing_results(part_path(args.output, Shard.from_torchrun()))
    return shard, ranks


def _xmp_options(args: argparse.Namespace) -> Optional[XmpOptions]:
    """The sidecar options (checked before any scoring), or None without --write-xmp."""
    from ..errors import ConfigError
    from ..inference.xmp import DEFAULT_THRESHOLDS, XmpOptions, parse_thresholds

    given = [flag for flag, value in (("--stars", args.stars), ("--star-thresholds", args.star_thresholds),
                                      ("--xmp-naming", args.xmp_naming)) if value is not None]
    if not args.write_xmp:
        if given:
            raise ConfigError(f"{given[0]} needs --write-xmp")
        return None
    thresholds = parse_thresholds(args.star_thresholds) if args.star_thresholds else DEFAULT_THRESHOLDS
    if args.star_thresholds and args.stars == "quantile":
        raise ConfigError("--star-thresholds goes with --stars fixed, not quantile")
    stars = args.stars or ("fixed" if args.star_thresholds else "quantile")
    return XmpOptions(stars=stars, thresholds=thresholds, naming=args.xmp_naming or "auto")


def _write_xmp(args: argparse.Namespace, options: XmpOptions, kept: list) -> int:
    """Sidecars from the whole run (the results file, resumed parts included); returns the problems."""
    from ..inference.writers import read_rows
    from ..inference.xmp import write_sidecars
    from ..terminal import printable

    report = write_sidecars((lambda: read_rows(args.output, csv_safe=args.csv_safe)) if args.output
                            else (lambda: kept), options)
    for path, reason in report.problems:
        print(f"warning: {printable(path)}: {printable(reason)}", file=sys.stderr)
    print(f"{report.written} XMP sidecar(s) written" + (f", {len(report.problems)} not (see above)"
                                                         if report.problems else ""), file=sys.stderr)
    return len(report.problems)


def add_merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("parts", nargs="+", metavar="PART", help="part files written by score --shard I/N")
    p.add_argument("--output", required=True, metavar="FILE",
                   help="merged result file: .csv, .jsonl or .parquet")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it already holds results")
    p.add_argument("--csv-safe", action=argparse.BooleanOptionalAction, default=True,
                   help="the --csv-safe setting the parts were written with (and FILE is written with)")


@command("merge", "join the part files of score --shard into one result file in input order",
         add_merge_arguments)
def cmd_merge(args: argparse.Namespace) -> int:
    from ..inference.collection import merge_parts
    from ..inference.writers import check_output

    check_output(args.output)
    if not args.overwrite:
        refuse_existing_results(Path(args.output))
    rows = merge_parts(args.parts, args.output, csv_safe=args.csv_safe)
    print(f"{rows} row(s) from {len(args.parts)} part(s) written to {args.output}", file=sys.stderr)
    return EXIT_OK
