"""Does ``persona-iaa score`` stream? Time per image and peak memory for 500, 2,000 and 8,000 images.

Each size runs in a fresh process: ``persona-iaa score`` (the CLI entry point, CSV output) on a folder
of generated JPEGs. Time per image excludes the fixed start-up (model load, worker start), measured
by a 16-image run in the same process after a first one that pays the one-time costs (imports); peak
RSS is reported for the main process and for the largest
decoding worker. Both should stay flat (within 15%) as the collection grows: nothing holds all images
or all results in memory.

    python bench/score_scaling.py                  # tiny backbone, 320x240 JPEGs
    python bench/score_scaling.py --sizes 500,2000 --backbone densenet121
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from photos import write_photos

WARM_UP = 16


def child(run: str, folder: str, warm_folder: str, output: str) -> None:
    """Runs in the measured process: prints one JSON line."""
    from persona_iaa.cli import main

    def timed(source: str, out: str) -> float:
        start = time.perf_counter()
        main(["score", "--checkpoint", run, source, "--output", out])
        return time.perf_counter() - start

    timed(warm_folder, output + ".first.csv")  # one-time costs: imports, the first ONNX export, ...
    warm = timed(warm_folder, output + ".warm.csv")  # the per-run start-up the measured run also pays
    total = timed(folder, output)
    count = sum(1 for _ in Path(folder).iterdir())
    rows = sum(1 for _ in open(output)) - 1
    print(
        json.dumps(
            {
                "images": count,
                "rows": rows,
                "seconds": total,
                "per_image": (total - warm) / (count - WARM_UP),
                "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,2000,8000")
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--size", default="320x240", help="JPEG width x height")
    parser.add_argument("--repeats", type=int, default=2, help="runs per size (noise on shared machines)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from persona_iaa import build_model
    from persona_iaa.data.transforms import Preprocessing
    from persona_iaa.training.checkpoint import save_model

    width, height = (int(v) for v in args.size.split("x"))
    counts = [int(c) for c in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        run = Path(tmp) / "run"
        save_model(run, build_model(args.backbone), Preprocessing())
        write_photos(Path(tmp) / "warm", WARM_UP, width, height)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print(
            f"persona-iaa score, {args.backbone} backbone, {width}x{height} JPEGs, CSV output, "
            "default options; "
            f"sizes run {args.repeats}x in alternating order, best time and highest RSS kept"
        )
        results: dict[int, dict] = {}
        for count in counts:
            write_photos(Path(tmp) / f"photos_{count}", count, width, height)
        for repeat in range(args.repeats):
            for count in counts if repeat % 2 == 0 else counts[::-1]:
                result = measure(run, Path(tmp), count)
                best = results.setdefault(count, result)
                best["per_image"] = min(best["per_image"], result["per_image"])
                for key in ("rss_main_mb", "rss_worker_mb"):
                    best[key] = max(best[key], result[key])
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        first = results[counts[0]]
        print(
            f"{'images':>7}{'ms/image':>10}{'vs first':>10}{'peak RSS main':>15}{'vs first':>10}{'worker':>9}"
        )
        for count in counts:
            result = results[count]
            print(
                f"{count:>7}{1000 * result['per_image']:>10.2f}"
                f"{result['per_image'] / first['per_image'] - 1:>+10.0%}"
                f"{result['rss_main_mb']:>12.0f} MB{result['rss_main_mb'] / first['rss_main_mb'] - 1:>+10.0%}"
                f"{result['rss_worker_mb']:>6.0f} MB"
            )


def measure(run: Path, tmp: Path, count: int) -> dict:
    """One fresh process scoring ``count`` images; checks that every image got its row."""
    line = (
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(run),
                str(tmp / f"photos_{count}"),
                str(tmp / "warm"),
                str(tmp / f"scores_{count}.csv"),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    result = json.loads(line)
    assert result["rows"] == count, result
    return result


if __name__ == "__main__":
    main()
