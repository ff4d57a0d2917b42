"""The prepared GPU check (bench/gpu_check.sh) runs end to end on CPU as a dry run, so the one script
run on a lent GPU machine has no typo, missing flag or broken step left to find there."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run_passes_every_step(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=600)
    log = (tmp_path / "gpu_check.log").read_text()
    assert done.returncode == 0, log[-3000:]
    for step in ("device", "gpu-tests", "train-throughput", "score-throughput"):
        assert f"== {step}: exit 0" in log
    assert "all steps passed" in done.stdout
