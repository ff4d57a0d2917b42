"""Paper-shaped outputs: Tables 1/2 as text and the Fig. 4 bar chart of the inter-task weights."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..constants import TRAIT_NAMES, TRAITS

COLUMNS: tuple[tuple[str, str], ...] = (
    ("acc", "ACC(%)"), ("srocc", "SROCC"), ("plcc", "PLCC"), ("krcc", "KRCC"), ("rmse", "RMSE"),
    ("mse", "MSE"), ("mae", "MAE"), ("n", "N"),
)


def format_metric(key: str, value: Any, signed: bool = False) -> str:
    """One metric as every table prints it: accuracy in percent, MSE to four decimals (the paper's AADB
    "RMSE" values, 0.016 and 0.022, need them), counts as integers, the rest to three decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    sign = "+" if signed else ""
    if key == "acc":
        return f"{100 * value:{sign}.1f}"
    if key == "n":
        return str(int(value))
    return f"{value:{sign}.{4 if key == 'mse' else 3}f}"


def metrics_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """Rows of method name -> metrics, as an aligned text table."""
    header = ["Method"] + [title for _, title in COLUMNS]
    body = [[name] + [format_metric(key, metrics.get(key)) for key, _ in COLUMNS]
            for name, metrics in rows.items()]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header] + body]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def weights_table(weights: Mapping[str, float]) -> str:
    return "  ".join(f"{t}={weights[t]:+.4f}" for t in TRAITS)


def personality_table(per_trait: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["Trait              PLCC    RMSE"]
    for key in list(TRAITS) + ["mean"]:
        name = TRAIT_NAMES.get(key, "mean")
        m = per_trait[key]
        plcc, rmse = format_metric("plcc", m.get("plcc")), format_metric("rmse", m.get("rmse"))
        lines.append(f"{name:<17}{plcc:>6}  {rmse:>6}")
    return "\n".join(lines)


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (servers and CI have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Union[str, Path], **savefig_options: Any) -> Path:
    """Lay out, write (creating the folder) and close a figure. ``savefig_options`` go to
    ``Figure.savefig`` (``bbox_inches="tight"`` keeps polar tick labels, which the layout ignores)."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **savefig_options)
    pyplot().close(fig)
    return path


def plot_inter_task_weights(weights: Mapping[str, float], path: Union[str, Path],
                            title: Optional[str] = "Inter-task weights w (cf. the paper's Fig. 4)") -> Path:
    values = [weights[t] for t in TRAITS]
    fig, ax = pyplot().subplots(figsize=(6.2, 3.4), dpi=120)
    colours = ["#c0504d" if v < 0 else "#4f81bd" for v in values]
    ax.bar([TRAIT_NAMES[t] for t in TRAITS], values, color=colours)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("coefficient")
    if title:
        ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    return save_figure(fig, path)
