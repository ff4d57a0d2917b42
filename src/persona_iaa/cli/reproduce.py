"""``persona-iaa reproduce table1|table2``: the paper's tables over seeds, resumable, with a dry run."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from . import EXIT_OK, command

TABLES = ("table1", "table2")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", choices=TABLES,
                   help="table1: AVA (configs/ava.yaml) or table2: AADB (configs/aadb.yaml)")
    p.add_argument("--aesthetic-data", metavar="FORMAT:PATH", help="sets data.aesthetic")
    p.add_argument("--personality-data", metavar="FORMAT:PATH", help="sets data.personality")
    p.add_argument("--output", metavar="ROOT",
                   help="where the runs and tables go (default: runs/reproduce-TABLE)")
    p.add_argument("--config", metavar="FILE", help="a config instead of the table's paper config, e.g. "
                   "configs/demo.yaml for small data on a CPU")
    p.add_argument("--seeds", type=int, default=3, help="seeds per row, from train.seed on (default: 3)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                   help="paired bootstrap resamples for the differences (default: 2000)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and the hours it needs; train nothing")
    p.add_argument("--throughput", type=float, metavar="IMAGES_PER_S",
                   help="training images/s of your machine for --dry-run (from bench/train_throughput.py)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="any config key, e.g. train.epochs=5")


def table_and_overrides(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The table, and the KEY=VALUE settings (the data flags among them)."""
    table, extra = args.table, list(args.overrides)
    for key, value in (("data.aesthetic", args.aesthetic_data), ("data.personality", args.personality_data)):
        if value:
            extra.append(f"{key}={value}")
    return table, extra


def plan_text(plan: dict[str, Any], sizes: dict[str, Any]) -> str:
    """The --dry-run report: one line per run, the data sizes and the hours left."""
    unit = "GPU h" if plan["machine"] == "gpu" else "CPU h"
    lines = [f"  {'seed':>4}  {'run':<15} {'status':<8} {'train images':>13} {'eval images':>12} "
             f"{unit:>7}  directory"]
    for row in plan["runs"]:
        h = "?" if row["hours"] is None else f"{row['hours']:.3g}"
        lines.append(f"  {row['seed']:>4}  {row['kind']:<15} {row['status']:<8} {row['train_images']:>13,} "
                     f"{row['forward_images']:>12,} {h:>7}  {row['directory']}")
    described = {task: ", ".join(f"{k} {v:,}" for k, v in split_sizes.items()) if split_sizes else "-"
                 for task, split_sizes in sizes.items()}
    lines.append(f"aesthetic data: {described['aesthetic']}; personality data: {described['personality']}")
    if plan["throughput"] is None:
        lines.append("no reference throughput for this backbone and machine: pass --throughput IMAGES_PER_S "
                     "(measure it with python bench/train_throughput.py)")
    else:
        tp = plan["throughput"]
        minutes = f" (about {plan['hours_left'] * 60:.0f} min)" if plan["hours_left"] < 1 else ""
        lines.append(f"estimated {unit.replace(' h', ' hours')} left: {plan['hours_left']:.3g}{minutes} at "
                     f"{tp['images_per_second']:,.0f} training images/s ({tp['source']})")
    return "\n".join(lines)


@command("reproduce", "the paper's Table 1 or 2: every row over seeds, paired statistics, resumable",
         add_arguments)
def cmd_reproduce(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..experiments.estimate import estimate_runs
    from ..experiments.reproduce import data_sizes, plan_reproduction, reproduce
    from ..training.protocol import TrainingInterrupted

    if args.bootstrap < 100:
        raise ConfigError("--bootstrap must be at least 100 resamples")
    table_name, overrides = table_and_overrides(args)
    root = Path(args.output or f"runs/reproduce-{table_name}")
    rep = plan_reproduction(table_name, root, config_path=args.config, overrides=overrides, seeds=args.seeds)
    if args.dry_run:
        sizes = data_sizes(rep)
        print(f"reproduce {table_name} into {root}: {len(rep.seeds)} seed(s) x 2 runs "
              f"(backbone {rep.config.model.backbone}, {rep.config.train.epochs} epochs)")
        print(plan_text(estimate_runs(rep.runs, sizes, args.throughput), sizes))
        return EXIT_OK
    try:
        table = reproduce(rep, resamples=args.bootstrap)
    except TrainingInterrupted as stopped:
        print(f"reproduce stopped by {signal.Signals(stopped.signum).name}; the same command continues it",
              file=sys.stderr)
        return 128 + stopped.signum
    print(f"\n{table['markdown']}")
    print(f"written: {root / 'table.json'}, {root / (table_name + '.md')}")
    return EXIT_OK
