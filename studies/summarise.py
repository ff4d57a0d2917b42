"""Summarise reproductions for docs/STUDIES.md: a Markdown table and a plot per study.

    python studies/summarise.py grid runs/studies/grid --plot docs/studies/grid.png
    python studies/summarise.py curve runs/studies/curve --plot docs/studies/curve.png
    python studies/summarise.py grad runs/studies/grad/seed-0/multitask --plot docs/studies/grad.png

``grid`` and ``curve`` read every ``ROOT/*/table.json`` (one reproduction per sub-folder, its name the
setting: ``train-sum``, ``n-300`` ...); ``grad`` reads ``steps.csv`` of runs trained with
``train.log_grad_norms=true``. Everything printed comes from those files.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from persona_iaa.evaluation.report import pyplot, save_figure
from persona_iaa.experiments.report import difference_cell, ours_cell

ROWS = {"aesthetic_only": "aesthetic only", "multitask_sgd": "multi-task, SGD w",
        "multitask_lstsq": "multi-task, lstsq w"}


def tables(root: Path) -> dict[str, dict[str, Any]]:
    found = {p.parent.name: json.loads(p.read_text()) for p in sorted(root.glob("*/table.json"))}
    if not found:
        sys.exit(f"no */table.json under {root}")
    return found


def markdown(found: dict[str, dict[str, Any]], metric: str) -> str:
    title = metric.upper()
    lines = [f"| setting | seeds | {title}: " + f" | {title}: ".join(ROWS.values())
             + f" | Δ{title} SGD − aesthetic only | Δ{title} lstsq − aesthetic only |",
             "|---|---:|" + "---:|" * (len(ROWS) + 2)]
    for name, table in found.items():
        cells = [ours_cell(metric, table["rows"][row][metric]) for row in ROWS]
        diffs = [difference_cell(metric, table["difference"][row][metric])
                 for row in ("multitask_sgd", "multitask_lstsq")]
        lines.append(f"| {name} | {len(table['seeds'])} | " + " | ".join(cells + diffs) + " |")
    return "\n".join(lines)


def plot_grid(found: dict[str, dict[str, Any]], metric: str, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=120)
    names = list(found)
    for offset, row, colour in ((-0.2, "multitask_sgd", "#4f81bd"), (0.2, "multitask_lstsq", "#c0504d")):
        diffs = [found[n]["difference"][row][metric] for n in names]
        means = [d["mean"] for d in diffs]
        errors = [[m - d["ci95"][0] for m, d in zip(means, diffs)],
                  [d["ci95"][1] - m for m, d in zip(means, diffs)]]
        ax.bar([i + offset for i in range(len(names))], means, width=0.4, yerr=errors, capsize=3,
               color=colour, label=ROWS[row])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel(f"{metric.upper()} difference vs aesthetic only")
    ax.set_title(f"Multi-task minus aesthetic-only {metric.upper()} (95% paired bootstrap interval)",
                 fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_curve(found: dict[str, dict[str, Any]], metric: str, path: Path) -> None:
    plt = pyplot()
    sizes = {name: int(re.sub(r"\D", "", name)) for name in found}
    names = sorted(found, key=sizes.get)
    fig, ax = plt.subplots(figsize=(6.2, 3.8), dpi=120)
    for row, marker in zip(ROWS, "osD"):
        means = [found[n]["rows"][row][metric]["mean"] for n in names]
        sds = [found[n]["rows"][row][metric]["sd"] or 0.0 for n in names]
        ax.errorbar([sizes[n] for n in names], means, yerr=sds, marker=marker, capsize=3, label=ROWS[row])
    ax.set_xscale("log")
    ax.set_xticks([sizes[n] for n in names], [str(sizes[n]) for n in names])
    ax.set_xlabel("aesthetic training images (personality set fixed)")
    ax.set_ylabel(f"test {metric.upper()} (mean ± sd over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def grad_rows(run: Path) -> list[dict[str, float]]:
    with (run / "steps.csv").open() as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None) and k in (
            "step", "grad_norm_aesthetic", "grad_norm_personality")} for row in csv.DictReader(handle)]


def grad_summary(runs: list[Path], path: Path | None) -> str:
    lines = ["| run | logged steps | median ‖g_a‖ | median ‖g_p‖ | median ratio ‖g_p‖/‖g_a‖ |",
             "|---|---:|---:|---:|---:|"]
    plt = pyplot() if path else None
    fig, ax = plt.subplots(figsize=(6.2, 3.6), dpi=120) if plt else (None, None)
    for run in runs:
        rows = [r for r in grad_rows(run) if "grad_norm_personality" in r and "grad_norm_aesthetic" in r]
        a = np.array([r["grad_norm_aesthetic"] for r in rows])
        p = np.array([r["grad_norm_personality"] for r in rows])
        lines.append(f"| {run} | {len(rows)} | {np.median(a):.4g} | {np.median(p):.4g} "
                     f"| {np.median(p / a):.3g} |")
        if ax is not None:  # one colour per run: its study folder (ROOT/<name>/seed-k/multitask)
            steps, name = [r["step"] for r in rows], run.parents[1].name
            line, = ax.plot(steps, a, label=f"aesthetic, L_p {name}")
            ax.plot(steps, p, linestyle="--", color=line.get_color(), label=f"personality, L_p {name}")
    if ax is not None and path is not None:
        ax.set_yscale("log")
        ax.set_xlabel("stage-1 step")
        ax.set_ylabel("gradient L2 norm on the shared layers")
        ax.legend(fontsize=7)
        save_figure(fig, path)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=("grid", "curve", "grad"))
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--metric", default="srocc", choices=("srocc", "plcc", "acc"))
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    if args.study == "grad":
        print(grad_summary(args.paths, args.plot))
        return
    found = {}
    for root in args.paths:
        found.update(tables(root))
    print(markdown(found, args.metric))
    if args.plot:
        (plot_curve if args.study == "curve" else plot_grid)(found, args.metric, args.plot)


if __name__ == "__main__":
    main()
