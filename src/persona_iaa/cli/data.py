"""``persona-iaa prepare`` (decode once into a cache) and ``persona-iaa datasets`` (inspect, formats)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from . import EXIT_OK, command, print_json


def format_options_from(pairs: Sequence[str]) -> dict[str, Any]:
    """``-o test_list=Test`` pairs -> format options (values read as YAML scalars, as in config overrides)."""
    from ..config import parse_override
    from ..errors import ConfigError

    options = {}
    for pair in pairs:
        keys, value = parse_override(pair)
        if len(keys) != 1:
            raise ConfigError(f"format option {pair!r} is not KEY=VALUE (for example test_list=Test)")
        options[keys[0]] = value
    return options


def add_option_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="format option, e.g. test_list=Test (as data.aesthetic_options.KEY in a config)")


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="FORMAT:PATH", help="dataset to prepare, e.g. ava:/data/AVA_dataset")
    p.add_argument("--output", required=True, metavar="CACHE",
                   help="cache folder (new, or an unfinished one to resume)")
    p.add_argument("--image-size", type=int, default=256,
                   help="stored side in pixels (the training resize, paper: 256)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of the stored images")
    p.add_argument("--workers", type=int, help="processes (default: every CPU core; 0 = no worker processes)")
    p.add_argument("--shard-size", type=int, default=256, help="images per shard (the unit of resuming)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_option_argument(p)


@command("prepare", "decode every image of a dataset once into a fast cache that training reads",
         add_prepare_arguments)
def cmd_prepare(args: argparse.Namespace) -> int:
    from ..data.cache import prepare_cache

    result = prepare_cache(args.dataset, Path(args.output), options=format_options_from(args.option),
                           image_size=args.image_size, quality=args.quality, workers=args.workers,
                           shard_size=args.shard_size)
    summary = {"output": str(result.output), "images": result.images, "reused": result.reused,
               "tasks": result.tasks, "unavailable": result.unavailable, "seconds": result.seconds,
               "unreadable": [{"path": s.path, "reason": s.reason} for s in result.unreadable]}
    if args.json:
        print_json(summary)
        return EXIT_OK
    print(f"prepared {result.images:,} images into {result.output} in {result.seconds:.1f} s"
          + (f" ({result.reused:,} kept from an earlier run)" if result.reused else ""))
    print("records: " + ", ".join(f"{task} {n:,}" for task, n in result.tasks.items()))
    for task, reason in result.unavailable.items():
        print(f"no {task} records: {reason}")
    if result.unreadable:
        listing = result.output / "unreadable.csv"
        print(f"{len(result.unreadable):,} unreadable image(s) left out (all in {listing}):")
        for skip in result.unreadable[:10]:
            print(f"  {skip.path}: {skip.reason}")
    print(f"train on it with: --aesthetic-data cache:{result.output} (or --personality-data)")
    return EXIT_OK


def add_datasets_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND")
    sub.required = True
    inspect = sub.add_parser("inspect", help="split sizes, label statistics and skipped files of a dataset",
                             description="Parse a dataset's labels, check that its images exist (without "
                                         "decoding them) and summarise splits, labels and skipped entries.")
    inspect.add_argument("dataset", metavar="FORMAT:PATH")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument("--val-fraction", type=float, default=0.1,
                         help="validation carved from train: share (<1) or image count (>=1), "
                              "as data.val_fraction")
    inspect.add_argument("--test-fraction", type=float, default=0.1,
                         help="test carved when the data has no split")
    inspect.add_argument("--seed", type=int, default=0)
    inspect.add_argument("--examples", type=int, default=3, help="example paths shown per skip reason")
    add_option_argument(inspect)
    sub.add_parser("formats", help="list the dataset formats (FORMAT: prefixes) and their options")


@command("datasets", "inspect a dataset argument, or list the dataset formats", add_datasets_arguments)
def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data.registry import available_formats, format_options, format_tasks

    if args.datasets_command == "formats":
        for name, help_text in available_formats().items():
            options = ", ".join(f"{k}={v}" for k, v in format_options(name).items())
            print(f"{name + ':':<14}{help_text}\n{'':<14}tasks: {', '.join(format_tasks(name))}"
                  + (f"; options: {options}" if options else ""))
        return EXIT_OK
    from ..data.inspection import format_report, inspect_dataset

    report = inspect_dataset(args.dataset, format_options_from(args.option), val_fraction=args.val_fraction,
                             test_fraction=args.test_fraction, seed=args.seed, examples=args.examples)
    if args.json:
        print_json(report)
    else:
        print(format_report(report), end="")
    return EXIT_OK
