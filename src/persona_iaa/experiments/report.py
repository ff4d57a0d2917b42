"""A reproduced table as Markdown: the paper's rows (quoted) beside ours (mean ± sd over seeds), and the
paired differences with their 95% intervals. Torch-free: it reads ``table.json`` content only."""
from __future__ import annotations

from typing import Any, Mapping

from ..evaluation.report import format_metric
from .paper import PAPER_RMSE_NOTE, ROW_NAMES, PaperTable

#: Columns of every reproduced table: (our metric key, the paper's key shown in that column, title).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("srocc", "srocc", "SROCC"), ("plcc", "plcc", "PLCC"), ("krcc", "krcc", "KRCC"),
    ("rmse", "rmse", "RMSE"), ("mse", "paper_rmse", "MSE"), ("acc", "acc", "ACC (%)"),
)
DIFFERENCE_TITLES = {"srocc": "SROCC", "plcc": "PLCC", "acc": "ACC (points)"}


def ours_cell(key: str, summary: Mapping[str, Any]) -> str:
    mean, sd = summary.get("mean"), summary.get("sd")
    if mean is None:
        return "-"
    return format_metric(key, mean) + ("" if sd is None else f" ± {format_metric(key, sd)}")


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def paper_rows(paper: PaperTable) -> list[str]:
    """The paper's rows: the literature it quotes, then its own two, every value as printed."""
    lines = []
    for source, rows in (("quoted by the paper", paper.literature), ("the paper", paper.proposed)):
        for method, values in rows.items():
            cells = [f"{method}, {source}"]
            for _, paper_key, _ in COLUMNS:
                value = values.get(paper_key)
                star = "*" if paper_key == "paper_rmse" and value is not None else ""
                shown_as = "mse" if star else paper_key
                cells.append("" if value is None else format_metric(shown_as, value) + star)
            lines.append(_line(cells))
    return lines


def difference_cell(key: str, diff: Mapping[str, Any]) -> str:
    low, high = diff.get("ci95") or [None, None]
    text = (f"{format_metric(key, diff.get('mean'), signed=True)} "
            f"[{format_metric(key, low, True)}, {format_metric(key, high, True)}]")
    return text + ("" if diff.get("significant") else " not significant")


def _header() -> list[str]:
    return [_line(["Method"] + [title for _, _, title in COLUMNS]), _line(["---"] + ["---:"] * len(COLUMNS))]


def _ours_rows(table: Mapping[str, Any], suffix: str = "") -> list[str]:
    return [_line([f"**{name}{suffix}**"] + [ours_cell(key, table["rows"][row][key])
                                             for key, _, _ in COLUMNS]) for row, name in ROW_NAMES.items()]


def ours_markdown(table: Mapping[str, Any]) -> str:
    """Our three rows alone (mean ± sd over seeds), for data the paper never ran on (the demo's)."""
    seeds = table["seeds"]
    return "\n".join([f"Test metrics over {len(seeds)} seed(s), mean ± sd "
                      f"(test images per seed: {', '.join(map(str, table['n_test']))})", ""]
                     + _header() + _ours_rows(table))


def differences_markdown(table: Mapping[str, Any]) -> str:
    """Each multi-task row minus the aesthetic-only row, with its paired bootstrap interval."""
    lines = ["Difference from the aesthetic-only row: mean over seeds [95% paired bootstrap interval "
             f"over test images, pooled over seeds, {table['resamples']} resamples]", "",
             _line(["Compared row"] + list(DIFFERENCE_TITLES.values())),
             _line(["---"] + ["---:"] * len(DIFFERENCE_TITLES))]
    for row, metrics in table["difference"].items():
        cells = [difference_cell(key, metrics[key]) for key in DIFFERENCE_TITLES]
        lines.append(_line([ROW_NAMES[row]] + cells))
    return "\n".join(lines)


def table_markdown(table: Mapping[str, Any], paper: PaperTable) -> str:
    """The whole ``<table>.md``: title, the comparison table, the differences and the notes."""
    seeds = table["seeds"]
    lines = [f"# {paper.title}, reproduced", "",
             f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}); test images per seed: "
             f"{', '.join(map(str, table['n_test']))}. Ours: mean ± sd over seeds.", ""]
    lines += _header() + paper_rows(paper) + _ours_rows(table, ", ours") + ["", differences_markdown(table)]
    unconverged = [seed for seed, s2 in table.get("stage2", {}).items() if not s2["sgd_converged"]]
    lines += ["", f"Stage-2 SGD did not reach the least-squares optimum for seed(s) {', '.join(unconverged)}."
              if unconverged else "Stage-2 SGD reached the least-squares optimum for every seed."]
    if "paper_rmse" in paper.metrics:
        lines += ["", f"\\* {PAPER_RMSE_NOTE}"]
    return "\n".join(lines) + "\n"
