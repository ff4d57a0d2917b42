"""``persona-iaa reproduce``: every row of the paper's Table 1 or 2, over seeds, with paired statistics.

For each seed the reproduction trains two runs under ``ROOT/seed-<k>/``: ``aesthetic_only`` (the
paper's "only aesthetic task") and ``multitask`` (stage 1 + stage 2 by SGD). The multi-task run's test
predictions give two rows: ``multitask_sgd`` with the SGD ``w`` the run keeps, and ``multitask_lstsq``
with the exact least-squares ``w`` (eq. 6) fitted on the same frozen outputs, so the two rows differ
only in the stage-2 solver. Finished runs are skipped, an interrupted one continues from its latest
checkpoint, and the table is computed from the runs' ``test_predictions.csv`` files alone.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..config import Config, builtin_config_path, load_config
from ..constants import TRAITS
from ..errors import ConfigError, DataError
from ..evaluation.evaluate import PREDICTIONS_FILE, read_predictions
from ..evaluation.metrics import aesthetic_metrics, json_safe
from ..evaluation.statistics import BOOTSTRAP_METRICS, PairedRun, paired_bootstrap, summarise
from ..files import atomic_write, read_json, write_json
from ..models.pdmtl import final_score
from ..training.checkpoint import CHECKPOINT_DIR
from ..training.stage2 import sgd_converged
from .paper import PAPER_TABLES, ROW_NAMES, PaperTable

log = logging.getLogger(__name__)

#: The two trainings of every seed, in the order they run (``ROOT/seed-<k>/<run>``).
MULTITASK = "multitask"
RUNS: tuple[str, ...] = ("aesthetic_only", MULTITASK)
#: The name :func:`seed_dir` gives a seed's folder, as a pattern (figures find the seeds by it).
SEED_DIR = re.compile(r"seed-(\d+)")
#: What a multi-task run's ``stage2`` summary holds (``test_metrics.json``).
STAGE2_KEYS = ("weights", "lstsq_weights", "train_mse", "lstsq_train_mse", "train_mse_without_w")
#: The metrics each row of ``table.json`` reports (mean, sd and per-seed values).
ROW_METRICS: tuple[str, ...] = ("srocc", "plcc", "krcc", "rmse", "mse", "acc")
#: Written last by every run: its presence means the run finished.
DONE_FILE = "test_metrics.json"
MANIFEST = "reproduce.json"
#: Settings that may change between invocations on the same ROOT without changing what is computed.
RUNTIME_KEYS = {("train", "output"), ("train", "seed"), ("data", "workers"), ("train", "device"),
                ("train", "tensorboard"), ("train", "log_every"), ("train", "checkpoint_minutes")}


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One training of the reproduction: its seed, its kind (:data:`RUNS`), its directory and config."""

    seed: int
    kind: str
    config: Config

    @property
    def directory(self) -> Path:
        return Path(self.config.train.output)

    def status(self) -> str:
        """``done`` (finished), ``partial`` (a checkpoint to continue from) or ``new``."""
        if (self.directory / DONE_FILE).is_file() and (self.directory / PREDICTIONS_FILE).is_file():
            return "done"
        return "partial" if any((self.directory / CHECKPOINT_DIR).glob("*.pt")) else "new"


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """What ``reproduce`` will do: the paper's table, where, with which config and seeds."""

    table: PaperTable
    root: Path
    config: Config
    seeds: tuple[int, ...]
    runs: tuple[PlannedRun, ...]

    def run(self, seed: int, kind: str) -> PlannedRun:
        return next(r for r in self.runs if r.seed == seed and r.kind == kind)


def seed_dir(root: Path, seed: int) -> Path:
    return root / f"seed-{seed}"


def plan_reproduction(table: str, root: Path, *, config_path: Optional[str] = None,
                      overrides: Sequence[str] = (), seeds: int = 3) -> Reproduction:
    """The runs of ``table`` (``table1``/``table2``) under ``root``: ``seeds`` seeds from the config's.

    Without ``config_path`` the table's builtin paper config is used (``configs/ava.yaml`` or
    ``configs/aadb.yaml``); ``overrides`` are ``KEY=VALUE`` settings (data arguments among them).
    """
    paper = PAPER_TABLES.get(table, lambda name: ConfigError(
        f"unknown table {name!r}; choose {' or '.join(PAPER_TABLES.names())}"))
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    config = load_config(config_path or builtin_config_path(paper.config), list(overrides))
    first = config.train.seed
    runs = []
    for seed in range(first, first + seeds):
        for kind in RUNS:
            run_overrides = [f"train.seed={seed}", f"train.output={seed_dir(root, seed) / kind}",
                             f"train.personality={'false' if kind == 'aesthetic_only' else 'true'}",
                             "train.inter_task_solver=sgd"]  # both solutions come from the SGD run
            runs.append(PlannedRun(seed, kind, load_config(config_path or builtin_config_path(paper.config),
                                                           list(overrides) + run_overrides)))
    return Reproduction(paper, root, config, tuple(range(first, first + seeds)), tuple(runs))


def comparable_config(config: Config) -> dict[str, Any]:
    """The config without the settings that may change between invocations (:data:`RUNTIME_KEYS`)."""
    values = config.to_dict()
    for section, key in RUNTIME_KEYS:
        values[section].pop(key, None)
    return values


def with_defaults(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every key it lacks taken from ``defaults``, section by section."""
    merged = dict(defaults)
    for key, value in values.items():
        merged[key] = (with_defaults(value, defaults[key])
                       if isinstance(value, dict) and isinstance(defaults.get(key), dict) else value)
    return merged


def claim_root(rep: Reproduction) -> None:
    """Record the reproduction in ``ROOT/reproduce.json``, refusing a ROOT that holds another one
    (mixing configurations would make the table a mean over different experiments)."""
    manifest = rep.root / MANIFEST
    mine = {"table": rep.table.name, "config": comparable_config(rep.config)}
    if manifest.is_file():
        theirs = read_json(manifest)
        # a setting added to the project since ROOT was made counts at its default there
        theirs["config"] = with_defaults(theirs.get("config") or {}, comparable_config(Config()))
        if {k: theirs.get(k) for k in mine} != mine:
            raise ConfigError(f"{rep.root} holds a reproduction of another table or configuration; "
                              "give another --output, or the same config and settings as before")
        seeds = sorted(set(theirs.get("seeds", [])) | set(rep.seeds))
    else:
        seeds = list(rep.seeds)
    write_json(manifest, {**mine, "seeds": seeds})


def train_planned(run: PlannedRun, status: str) -> dict[str, Any]:
    """Train one run afresh, or continue it from its latest checkpoint (``train --resume``); ``status`` is
    :meth:`PlannedRun.status`."""
    from ..training.protocol import Trainer

    if status == "new" and run.directory.exists():
        shutil.rmtree(run.directory)  # a run stopped before its first checkpoint: nothing to keep
    return Trainer(run.config, resume=status == "partial").run()


def execute(rep: Reproduction) -> None:
    """Train every run that is not finished, in plan order (SIGTERM/SIGINT stop after a checkpoint)."""
    claim_root(rep)
    for i, run in enumerate(rep.runs, 1):
        status = run.status()
        what = {"done": "finished, skipped", "partial": "continuing from its checkpoint",
                "new": "training"}[status]
        log.info("[%d/%d] seed %d, %s: %s (%s)", i, len(rep.runs), run.seed, run.kind, what, run.directory)
        if status != "done":
            train_planned(run, status)


def read_stage2(run: Path) -> dict[str, Any]:
    """A finished multi-task run's stage-2 summary; a run trained without the personality task has none
    (one-line error)."""
    stage2 = (read_json(run / DONE_FILE) or {}).get("stage2")
    if stage2 is None:
        raise DataError(f"{run} was trained without the personality task (stage2 is null in {DONE_FILE}): "
                        "it has no inter-task weights or traits")
    missing = [key for key in STAGE2_KEYS if key not in stage2]
    if missing:
        raise DataError(f"{run / DONE_FILE}: stage2 lacks {', '.join(missing)} "
                        "(written by an older persona-iaa?)")
    return stage2


def seed_scores(rep: Reproduction, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """One seed's test targets, each row's scores on them, and its stage-2 summary."""
    base_dir, multi_dir = rep.run(seed, "aesthetic_only").directory, rep.run(seed, MULTITASK).directory
    for directory in (base_dir, multi_dir):
        if not (directory / PREDICTIONS_FILE).is_file():
            raise DataError(f"{directory} has no {PREDICTIONS_FILE}: run reproduce to finish it")
    base_paths, base = read_predictions(base_dir / PREDICTIONS_FILE)
    multi_paths, multi = read_predictions(multi_dir / PREDICTIONS_FILE)
    if base_paths != multi_paths:
        raise DataError(f"seed {seed}: the two runs were tested on different images")
    stage2 = read_stage2(multi_dir)
    lstsq_w = np.array([stage2["lstsq_weights"][t] for t in TRAITS])
    scores = {"aesthetic_only": base.score, "multitask_sgd": multi.score,
              "multitask_lstsq": final_score(multi.aesthetic, multi.personality, lstsq_w)}
    return base.target[:, 0], scores, stage2


def collect_table(rep: Reproduction, *, resamples: int = 2000) -> dict[str, Any]:
    """``table.json``'s content: each row's metrics over seeds and the paired differences."""
    per_seed = {seed: seed_scores(rep, seed) for seed in rep.seeds}
    rows: dict[str, Any] = {}
    for row in ROW_NAMES:
        metrics = [aesthetic_metrics(scores[row], target) for target, scores, _ in per_seed.values()]
        rows[row] = {m: summarise([values[m] for values in metrics]) for m in ROW_METRICS}
    difference = {
        row: {m: paired_bootstrap([PairedRun(scores["aesthetic_only"], scores[row], target)
                                   for target, scores, _ in per_seed.values()], m, resamples=resamples)
              for m in BOOTSTRAP_METRICS}
        for row in ("multitask_sgd", "multitask_lstsq")}
    stage2 = {str(seed): {"sgd_weights": s2["weights"], "lstsq_weights": s2["lstsq_weights"],
                          "sgd_converged": sgd_converged(s2)} for seed, (_, _, s2) in per_seed.items()}
    return json_safe({
        "table": rep.table.name, "rows": rows, "difference": difference, "seeds": list(rep.seeds),
        "n_test": [len(target) for target, _, _ in per_seed.values()], "resamples": resamples,
        "stage2": stage2, "paper": {**rep.table.literature, **rep.table.proposed},
    })


def reproduce(rep: Reproduction, *, resamples: int = 2000) -> dict[str, Any]:
    """Train what is missing, then write ``ROOT/table.json`` and ``ROOT/<table>.md``; returns the table."""
    from .report import table_markdown

    execute(rep)
    table = collect_table(rep, resamples=resamples)
    write_json(rep.root / "table.json", table)
    markdown = table_markdown(table, rep.table)
    atomic_write(rep.root / f"{rep.table.name}.md",
                 lambda tmp: Path(tmp).write_text(markdown, encoding="utf-8"))
    return {**table, "markdown": markdown}


def data_sizes(rep: Reproduction) -> dict[str, Any]:
    """The split sizes of the reproduction's data (what ``--dry-run`` estimates the work from)."""
    from ..training.protocol import load_run_data

    aesthetic, personality = load_run_data(rep.run(rep.seeds[0], MULTITASK).config)
    return {"aesthetic": aesthetic.sizes(), "personality": personality.sizes() if personality else None}
