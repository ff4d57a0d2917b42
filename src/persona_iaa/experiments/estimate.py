"""How long a reproduction takes: images each run processes, and hours at a measured training throughput.

Why images and a throughput, not a stopwatch: the work of a run is fixed by its config and data sizes
(stage-1 images, evaluation passes, stage-2 inputs), while the speed depends on the machine; the
figures of ``bench/train_throughput.py`` (bench/RESULTS.md) give the speed. A forward-only image is
counted as a third of a training image (no backward pass, no optimiser step).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Optional

from ..config import Config

#: Share of a training image's cost that an evaluation (forward-only) image costs.
FORWARD_SHARE = 1 / 3


@dataclasses.dataclass(frozen=True)
class Throughput:
    """Training images per second of one backbone on one kind of machine, and where the figure is from."""

    images_per_second: float
    source: str


#: Reference figures by (backbone, "gpu" | "cpu"); ``--throughput`` replaces them with your own.
REFERENCE_THROUGHPUT: dict[tuple[str, str], Throughput] = {
    ("densenet121", "gpu"): Throughput(2600.0, "the target bench/train_throughput.py checks on one "
                                       "H200-class GPU (224 px, bf16, channels-last); not yet measured on a "
                                       "GPU here: run the script on yours and pass --throughput"),
    ("densenet121", "cpu"): Throughput(32.5, "bench/train_throughput.py on 2 CPU cores, bf16 channels-last, "
                                       "112 px crops (bench/RESULTS.md)"),
    ("tiny", "cpu"): Throughput(352.0, "bench/train_throughput.py on 2 CPU cores, fp32, 112 px crops "
                                "(bench/RESULTS.md)"),
}


def machine_kind(config: Config) -> str:
    return "cpu" if config.train.device == "cpu" else "gpu"


def reference_throughput(config: Config, given: Optional[float] = None) -> Optional[Throughput]:
    """``given`` (images/s from ``--throughput``), else the reference for the run's backbone and machine."""
    if given is not None:
        return Throughput(given, "given with --throughput")
    return REFERENCE_THROUGHPUT.get((config.model.backbone, machine_kind(config)))


def run_workload(config: Config, aesthetic: Mapping[str, int], personality: Optional[Mapping[str, int]]
                 ) -> dict[str, int]:
    """Training and forward-only images of one run with these split sizes (personality None: baseline)."""
    data, tc = config.data, config.train
    steps = math.ceil(aesthetic["train"] / data.batch_size)
    train = tc.epochs * aesthetic["train"]
    forward = tc.epochs * aesthetic["val"] + aesthetic["val"] + aesthetic["test"]
    if personality is not None:
        train += tc.epochs * steps * (data.personality_batch_size or data.batch_size)
        stage2_images = aesthetic[tc.stage2_split]
        forward += stage2_images * (tc.stage2_epochs if tc.stage2_inputs == "augmented" else 1)
        forward += personality["test"]
    return {"train_images": train, "forward_images": forward}


def hours(workload: Mapping[str, int], throughput: Optional[Throughput]) -> Optional[float]:
    if throughput is None:
        return None
    cost = workload["train_images"] + FORWARD_SHARE * workload["forward_images"]
    return cost / throughput.images_per_second / 3600


def estimate_runs(runs: Any, sizes: Mapping[str, Any], given: Optional[float] = None) -> dict[str, Any]:
    """Per planned run (``PlannedRun``s) its status, workload and hours; the total hours left to train.

    ``sizes`` holds the split sizes of the aesthetic and personality data (``TaskData.sizes()``).
    """
    rows, left = [], 0.0
    throughput = None
    for run in runs:
        throughput = reference_throughput(run.config, given)
        work = run_workload(run.config, sizes["aesthetic"],
                            sizes["personality"] if run.kind == "multitask" else None)
        run_hours, status = hours(work, throughput), run.status()
        rows.append({"seed": run.seed, "kind": run.kind, "status": status, "directory": str(run.directory),
                     **work, "hours": run_hours})
        if status != "done" and run_hours is not None:
            left += run_hours
    first = runs[0].config if runs else None
    return {"runs": rows, "hours_left": left if throughput is not None else None,
            "machine": machine_kind(first) if first else None,
            "throughput": dataclasses.asdict(throughput) if throughput else None}
