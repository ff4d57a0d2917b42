"""`persona-iaa datasets inspect`: what a dataset argument yields, without training on it.

Parses the labels of every task the format provides, checks that image files exist (directory
listings, no decoding), applies the split policy and summarises: split sizes, score statistics (mean,
std, share above the 0.5 threshold), trait statistics and what was skipped, counted per reason.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from ..constants import TRAITS
from ..errors import DataError
from .records import AESTHETIC, SPLITS, Record, TaskUnavailable
from .registry import format_tasks, load_task_data, parse_spec

#: The paper's binary criterion on the normalised aesthetic score (AVA: mean vote above 5).
SCORE_THRESHOLD = 0.5


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
            "max": float(values.max())}


def split_statistics(records: list[Record], task: str) -> dict[str, Any]:
    """Size and label statistics of one split."""
    summary: dict[str, Any] = {"n": len(records)}
    if not records:
        return summary
    targets = np.asarray([r.target for r in records], dtype=np.float64)
    if task == AESTHETIC:
        scores = targets[:, 0]
        summary["score"] = {**_stats(scores),
                            "share_above_threshold": float(np.mean(scores > SCORE_THRESHOLD))}
    else:
        summary["traits"] = {trait: _stats(targets[:, i]) for i, trait in enumerate(TRAITS)}
    return summary


def inspect_dataset(spec: str, options: Optional[Mapping[str, Any]] = None, *, val_fraction: float = 0.1,
                    test_fraction: float = 0.1, seed: int = 0, examples: int = 3) -> dict[str, Any]:
    """The report for ``spec``, one entry per task; a task whose labels are absent says why."""
    name, path = parse_spec(spec)
    report: dict[str, Any] = {"spec": spec, "format": name, "threshold": SCORE_THRESHOLD, "tasks": {}}
    errors = []
    for task in format_tasks(name):
        try:
            data = load_task_data(spec, task, options, val_fraction=val_fraction, test_fraction=test_fraction,
                                  seed=seed)
            source, splits = data.source, data.splits
        except DataError as exc:
            errors.append(exc)
            report["tasks"][task] = {"available": False, "error": str(exc)}
            continue
        report["tasks"][task] = {
            "available": True,
            "records": len(source.records),
            "splits": {split: split_statistics(splits[split], task) for split in SPLITS},
            "skipped": {"total": len(source.skipped), "reasons": source.skip_summary(examples)},
            "info": source.info,
        }
    if len(errors) == len(report["tasks"]):
        # A file that only holds the other task's labels is not the problem to report: its own one is.
        raise next((e for e in errors if not isinstance(e, TaskUnavailable)), errors[0])
    return report


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def format_report(report: dict[str, Any]) -> str:
    """The report as the text `datasets inspect` prints."""
    lines = []
    for task, entry in report["tasks"].items():
        lines.append(f"{report['spec']}  [{task}]")
        if not entry["available"]:
            lines += [f"  not available: {entry['error']}", ""]
            continue
        lines.append(f"  records: {entry['records']:,}   skipped: {entry['skipped']['total']:,}")
        if task == AESTHETIC:
            lines.append(f"  {'split':<6}{'images':>10}{'mean':>9}{'std':>8}{'min':>8}{'max':>8}"
                         f"{'> ' + str(report['threshold']):>9}")
            for split, stats in entry["splits"].items():
                s = stats.get("score")
                lines.append(f"  {split:<6}{stats['n']:>10,}" + (
                    f"{s['mean']:>9.4f}{s['std']:>8.4f}{s['min']:>8.3f}{s['max']:>8.3f}"
                    f"{_percent(s['share_above_threshold']):>9}" if s else ""))
        else:
            lines.append(f"  {'split':<6}{'images':>10}  "
                         + "  ".join(f"{t + ' mean/std':>13}" for t in TRAITS))
            for split, stats in entry["splits"].items():
                traits = stats.get("traits")
                cells = "  ".join(f"{traits[t]['mean']:>+6.3f}/{traits[t]['std']:<6.3f}"
                                  for t in TRAITS) if traits else ""
                lines.append(f"  {split:<6}{stats['n']:>10,}  " + cells)
        for reason, detail in entry["skipped"]["reasons"].items():
            lines.append(f"  skipped {detail['count']:,}: {reason}  (e.g. {', '.join(detail['examples'])})")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
