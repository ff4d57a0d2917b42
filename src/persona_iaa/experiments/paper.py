"""The paper's Tables 1 and 2 as published, for printing beside a reproduction.

Torch-free. Values are quoted exactly as printed in the paper (Li et al., ICME 2019); the literature
rows are the paper's quotations of other work, not runs of ours. The paper's AADB "RMSE" column cannot
be an RMSE on [0, 1] scores at the PLCC it reports (see the README): it is listed under ``paper_rmse``
and shown beside our MSE, never beside our RMSE.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from ..registry import Registry


@dataclasses.dataclass(frozen=True)
class PaperTable:
    """One of the paper's tables: its dataset, the builtin config that reproduces it, its metrics and rows.

    ``rows`` maps a method name to the values the paper prints; ``ours`` maps our row keys to the paper's
    row that each reproduces (None: the paper has no such row).
    """

    name: str
    title: str
    dataset: str
    config: str
    metrics: tuple[str, ...]
    literature: Mapping[str, Mapping[str, float]]
    proposed: Mapping[str, Mapping[str, float]]
    ours: Mapping[str, str | None]


PAPER_TABLES: Registry[PaperTable] = Registry("paper table")

#: Our rows, in table order, and how the tables name them.
ROW_NAMES: dict[str, str] = {
    "aesthetic_only": "Aesthetic task only",
    "multitask_sgd": "Multi-task, w by SGD (paper)",
    "multitask_lstsq": "Multi-task, w by least squares",
}

PAPER_TABLES.add("table1", PaperTable(
    name="table1", title="Table 1: AVA (binary accuracy at 0.5)", dataset="AVA", config="ava",
    metrics=("acc",),
    literature={
        "AVA handcrafted features [8]": {"acc": 0.680}, "RAPID [4]": {"acc": 0.754},
        "DMA [14]": {"acc": 0.754},
        "Kao et al. [20]": {"acc": 0.762}, "Wang et al. [15]": {"acc": 0.769},
        "Kong et al. [5]": {"acc": 0.773}, "Kao et al. [21]": {"acc": 0.791},
    },
    proposed={"Proposed (only aesthetic task)": {"acc": 0.761}, "Proposed": {"acc": 0.815}},
    ours={"aesthetic_only": "Proposed (only aesthetic task)", "multitask_sgd": "Proposed",
          "multitask_lstsq": None},
))

PAPER_TABLES.add("table2", PaperTable(
    name="table2", title="Table 2: AADB (score regression)", dataset="AADB", config="aadb",
    metrics=("srocc", "plcc", "paper_rmse"),
    literature={
        "Reg [5]": {"srocc": 0.624, "plcc": 0.618, "paper_rmse": 0.029},
        "Reg+Rank [5]": {"srocc": 0.652, "plcc": 0.657, "paper_rmse": 0.024},
        "Reg+Rank+Att+Cont [5]": {"srocc": 0.678, "plcc": 0.684, "paper_rmse": 0.019},
    },
    proposed={"Proposed (only aesthetic task)": {"srocc": 0.637, "plcc": 0.668, "paper_rmse": 0.022},
              "Proposed": {"srocc": 0.680, "plcc": 0.702, "paper_rmse": 0.016}},
    ours={"aesthetic_only": "Proposed (only aesthetic task)", "multitask_sgd": "Proposed",
          "multitask_lstsq": None},
))

#: The footnote every table that quotes the paper's AADB "RMSE" carries.
PAPER_RMSE_NOTE = (
    "The paper's AADB \"RMSE\" values (0.016-0.029) are shown in the MSE column: on [0, 1] scores with a "
    "test sd of about 0.20, PLCC 0.702 implies an RMSE of at least about 0.145 for any calibrated "
    "predictor, so those values behave like an MSE, not an RMSE.")
