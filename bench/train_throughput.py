"""Training throughput: stage-1 images/s for `tiny` and `densenet121`, fp32 vs bf16 and channels-last,
from original JPEGs vs the prepared cache, in one run, as ratios against fp32 from JPEGs
(`--compile` adds torch.compile, compute only; `--grad-norms` adds fp32 with train.log_grad_norms).

Two measures per variant, both through the Trainer's own code:
  * end to end: a real stage-1 epoch (loader workers decoding photo-sized JPEGs, augmentation, the
    alternating aesthetic/personality steps), images/s from the run's own step reports;
  * compute only: the same training step (`train_step` over the schedule's batches) on batches
    already in memory (the ceiling the input pipeline has to feed).
On a CUDA machine it adds densenet121 at 224 px (the paper's setting, batch 32) and projects the wall
time of the paper's AVA protocol: 20 epochs of 230k aesthetic images plus as many personality images,
about 9.2M images. The whole GPU run stays within 5 minutes (--compile adds about one).

`--grad-norms` prices the per-task gradient norms: the "fp32 grad-norms" variant measures them on every
timed step (compute only; end to end on every reported step, which is every step on a CPU run), so its
ratio against fp32 is the cost of one measured step; a run pays it once every `train.log_every` steps.
The norm computation is also timed alone on the backbone's gradients (a figure that machine noise
does not swamp when the cost is smaller than the spread of the step timings).

    python bench/train_throughput.py [--quick] [--compile] [--grad-norms] [--workers N]
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image

from persona_iaa.config import Config, load_config
from persona_iaa.data.records import AESTHETIC, PERSONALITY
from persona_iaa.data.synthetic import make_demo_data
from persona_iaa.errors import PersonaIAAError
from persona_iaa.models.pdmtl import build_model
from persona_iaa.training.protocol import Trainer
from persona_iaa.training.step import gradient_norm, set_trainable, train_step

VARIANTS = (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))  # (precision, channels-last)
AVA_PROTOCOL_IMAGES = 2 * 20 * 230_000  # 20 epochs x (230k aesthetic + as many personality images)
GPU_TARGET = 2600  # images/s on one H200-class GPU: the AVA protocol in about an hour
GRAD_NORMS = "fp32 grad-norms"  # the --grad-norms variant
TRAIN_LOG_EVERY = 50  # train.log_every's default: one measured step in this many


def photo_jpeg(job: tuple[str, int, int, int]) -> None:
    """Rewrite a demo image as a photo-sized JPEG with grain (decode cost close to a real photo)."""
    path, width, height, seed = job
    rng = np.random.default_rng(seed)
    base = np.asarray(Image.open(path).convert("RGB").resize((width, height), Image.BILINEAR), np.int16)
    grain = rng.integers(-14, 15, (height, width, 3), dtype=np.int16)
    Image.fromarray((base + grain).clip(0, 255).astype(np.uint8)).save(path, quality=90)


def make_world(root: Path, n_aesthetic: int, n_personality: int, workers: int) -> dict[str, str]:
    specs = make_demo_data(root, n_train=n_aesthetic, n_val=4, n_test=4, n_personality=n_personality, size=64)
    jobs = [(str(p), 640, 480, i) for i, p in enumerate(sorted(root.rglob("*.jpg")))]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        list(pool.map(photo_jpeg, jobs, chunksize=16))
    return specs


def prepared(specs: dict[str, str], root: Path) -> Optional[dict[str, str]]:
    """The same data through `persona-iaa prepare` (read back as ``cache:DIR``), or None with the reason."""
    try:
        import persona_iaa.data.cache  # noqa: F401  (comes with the prepare command)
    except ImportError:
        print("prepared cache: skipped (persona_iaa.data.cache is not in this checkout: "
              "the comparison runs once `persona-iaa prepare` is available)")
        return None
    from persona_iaa.cli import main

    cached = {}
    for task, spec in specs.items():
        target = root / f"cache-{task}"
        if main(["prepare", spec, "--output", str(target)]) != 0:
            print(f"prepared cache: skipped (`persona-iaa prepare {spec}` failed)")
            return None
        cached[task] = f"cache:{target}"
    return cached


def variant_config(specs: dict[str, str], output: Path, args: argparse.Namespace, backbone: str,
                   precision: str, channels_last: bool, compile_: bool = False,
                   grad_norms: bool = False) -> Config:
    return load_config(None, [
        f"data.aesthetic={specs['aesthetic']}", f"data.personality={specs['personality']}",
        f"model.backbone={backbone}", "model.backbone_weights=none",
        f"data.image_size={args.image_size}", f"data.crop_size={args.crop_size}",
        f"data.batch_size={args.batch_size}", f"data.workers={args.workers}",
        "train.epochs=1", f"train.precision={precision}", f"train.channels_last={str(channels_last).lower()}",
        f"train.compile={str(compile_).lower()}", f"train.log_every={args.log_every}",
        f"train.log_grad_norms={str(grad_norms).lower()}",
        f"train.output={output}",
        "train.tensorboard=false", "train.checkpoint_minutes=0", f"train.device={args.device}",
    ])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def end_to_end(config: Config) -> float:
    """Median images/s of a stage-1 epoch's report windows, the first (start-up, autotuning) left out."""
    Trainer(config).stage1()
    with (Path(config.train.output) / "steps.csv").open() as handle:
        rates = [float(r["images_per_second"]) for r in csv.DictReader(handle)][1:]
    return statistics.median(rates) if rates else float("nan")


def compute_only(configs: dict[str, Config], steps: int, warmup: int, rounds: int) -> dict[str, float]:
    """Median images/s of stage-1 steps on in-memory batches, variants timed in turn.

    Each step is the Trainer's own: :func:`train_step` over the batches its schedule hands out (the
    paper's one aesthetic and one personality batch), measuring the gradient norms on every step when
    the config logs them. Interleaving the variants round by round exposes them all to the same machine
    load.
    """
    steppers: dict[str, Callable[..., int]] = {}
    device = torch.device("cpu")
    for name, config in configs.items():
        trainer = Trainer(config)
        set_trainable(trainer.model, 1)
        context = trainer.step_context(trainer.optimizer(1))
        batch, crop = config.data.batch_size, config.data.crop_size
        images = torch.randn(batch, 3, crop, crop)
        images = images.pin_memory() if trainer.device.type == "cuda" else images
        sources = {AESTHETIC: itertools.repeat((images, torch.rand(batch, 1))),
                   PERSONALITY: itertools.repeat((images, torch.rand(batch, 5) * 2 - 1))}

        def step(context=context, schedule=trainer.schedule, sources=sources,
                 measure=config.train.log_grad_norms) -> int:
            return sum(done.images for done in train_step(context, schedule.next_step(sources), measure))

        for _ in range(warmup):
            step()
        steppers[name], device = step, trainer.device
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, step in steppers.items():
            synchronize(device)
            started = time.perf_counter()
            trained = sum(step() for _ in range(steps))
            synchronize(device)
            samples[name].append(trained / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in samples.items()}


def hours(seconds: float) -> str:
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when there is one)")
    parser.add_argument("--backbones", default="tiny,densenet121", help="comma-separated backbones to time")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated precisions to time")
    known, _ = parser.parse_known_args(argv)
    cuda = known.device.startswith("cuda") or (known.device == "auto" and torch.cuda.is_available())
    parser.add_argument("--quick", action="store_true", help="fewer images and steps (a smoke run)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (adds compile time)")
    parser.add_argument("--grad-norms", action="store_true",
                        help="also time fp32 with train.log_grad_norms (the cost of a measured step)")
    parser.add_argument("--rounds", type=int, help="interleaved compute-only rounds (default 3)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="loader workers")
    parser.add_argument("--image-size", type=int, default=256 if cuda else 128)
    parser.add_argument("--crop-size", type=int, default=224 if cuda else 112)
    parser.add_argument("--batch-size", type=int, default=32 if cuda else 16)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if cuda else "cpu"
    args.cuda = cuda
    args.log_every = 8 if cuda else 1
    args.n_aesthetic = (2048 if cuda else 96) // (4 if args.quick else 1)
    steps, warmup, rounds = (10, 5, args.rounds or 3) if cuda else (2, 1, args.rounds or 3)
    args.timing = (max(1, steps // 2), 1, 2) if args.quick else (steps, warmup, rounds)
    return args


def measure_backbone(backbone: str, specs: dict[str, dict[str, str]], root: Path, args: argparse.Namespace,
                     results: dict[tuple[str, str, str], float]) -> None:
    """End to end (per input) and compute only, for every variant of ``backbone``; prints its table rows."""
    configs = {f"{precision}{' channels-last' if channels_last else ''}":
               variant_config(specs["jpeg"], root / f"{backbone}-{precision}-{channels_last}", args, backbone,
                              precision, channels_last)
               for precision, channels_last in VARIANTS if precision in args.precisions.split(",")}
    if args.grad_norms and "fp32" in configs:
        configs[GRAD_NORMS] = variant_config(specs["jpeg"], root / f"{backbone}-grad-norms", args, backbone,
                                             "fp32", False, grad_norms=True)
    for name, config in configs.items():
        runs = {"jpeg": config}
        if "cache" in specs and name == "fp32":  # the input comparison, at one precision
            runs["cache"] = variant_config(specs["cache"], root / f"{backbone}-cache", args, backbone,
                                           "fp32", False)
        for source, run_config in runs.items():
            try:
                results[backbone, name, source] = end_to_end(run_config)
            except PersonaIAAError as exc:
                print(f"{backbone:<12} {name:<20} {source:<6} skipped ({exc})")
    if args.compile and backbone == "densenet121":  # compute only: compiling costs a minute per model
        configs["bf16 channels-last compiled"] = variant_config(
            specs["jpeg"], root / f"{backbone}-compiled", args, backbone, "bf16", True, True)
    computed = compute_only(configs, *args.timing)
    for name in configs:
        for source in ("jpeg", "cache"):
            compute = (f"{computed[name]:>12.1f} {computed[name] / computed['fp32']:>6.2f}x"
                       if source == "jpeg" else "")
            if (backbone, name, source) in results:
                rate, reference = results[backbone, name, source], results[backbone, "fp32", "jpeg"]
                print(f"{backbone:<12} {name:<20} {source:<6} {rate:>9.1f} {rate / reference:>6.2f}x"
                      f"   {compute}")
            elif source == "jpeg":
                print(f"{backbone:<12} {name:<20} {'':<6} {'':>9} {'':>7}   {compute}")
    results.update({(backbone, name, "compute"): rate for name, rate in computed.items()})


def norm_seconds(backbone: str, device: str, repeats: int = 20) -> float:
    """Median time of one :func:`gradient_norm` over the backbone's parameters (random gradients)."""
    model = build_model(backbone, None).to(device)
    shared = model.parameter_groups()["backbone"]
    for p in shared:
        p.grad = torch.randn_like(p)
    times = []
    for _ in range(repeats + 1):
        synchronize(torch.device(device))
        started = time.perf_counter()
        float(gradient_norm(shared))  # the host sync a report does anyway
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def print_grad_norm_cost(results: dict[tuple[str, str, str], float], args: argparse.Namespace) -> None:
    """What logging the gradient norms costs: a measured step, and a run that measures one step in
    ``train.log_every`` (the default 50)."""
    for backbone in args.backbones.split(","):
        if (backbone, "fp32", "compute") in results:
            seconds = norm_seconds(backbone, args.device)
            step = 2 * args.batch_size / results[backbone, "fp32", "compute"]  # one batch per task
            print(f"{backbone:<12} grad norms, timed alone: {seconds * 1e3:.2f} ms per batch, two per step: "
                  f"{2 * seconds / step:+.2%} of a plain fp32 step ({step * 1e3:.0f} ms); one step in "
                  f"{TRAIN_LOG_EVERY} measured: {2 * seconds / step / TRAIN_LOG_EVERY:+.3%}")
        for source, label in (("compute", "compute only"), ("jpeg", "end to end")):
            if (backbone, GRAD_NORMS, source) not in results or (backbone, "fp32", source) not in results:
                continue
            ratio = results[backbone, GRAD_NORMS, source] / results[backbone, "fp32", source]
            extra = 1 / ratio - 1  # extra time of a measured step, as a share of a plain step
            print(f"{backbone:<12} grad norms, {label}: a measured step runs at {ratio:.3f}x fp32 "
                  f"({extra:+.1%} time); one step in {TRAIN_LOG_EVERY} measured: "
                  f"{extra / TRAIN_LOG_EVERY:+.2%}")


def print_projection(results: dict[tuple[str, str, str], float], crop_size: int) -> None:
    """The paper's AVA protocol at the best measured rates (CUDA runs)."""
    best = max(v for k, v in results.items() if k[0] == "densenet121" and k[2] != "compute")
    ceiling = max(v for k, v in results.items() if k[0] == "densenet121" and k[2] == "compute")
    print(f"\ndensenet121 at {crop_size} px, best end to end: {best:.0f} images/s -> the paper's AVA "
          f"protocol ({AVA_PROTOCOL_IMAGES / 1e6:.1f}M images) in {hours(AVA_PROTOCOL_IMAGES / best)}; "
          f"compute-only ceiling {ceiling:.0f} images/s -> {hours(AVA_PROTOCOL_IMAGES / ceiling)}")
    print(f"target {GPU_TARGET} images/s: {'met' if best >= GPU_TARGET else 'not met'} end to end, "
          f"{'met' if ceiling >= GPU_TARGET else 'not met'} by the compute-only ceiling")


def main() -> int:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda, n_aesthetic = args.cuda, args.n_aesthetic
    device = "CUDA " + torch.cuda.get_device_name() if cuda else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; crop {args.crop_size} px, global batch {args.batch_size} per task, "
          f"{args.workers} loader workers, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        specs = {"jpeg": make_world(root / "world", n_aesthetic, n_aesthetic // 2, args.workers)}
        print(f"generated {n_aesthetic + n_aesthetic // 2} photo-sized JPEGs (640x480) in "
              f"{time.perf_counter() - started:.0f} s")
        cache = prepared(specs["jpeg"], root)
        if cache is not None:
            specs["cache"] = cache
        print(f"\n{'backbone':<12} {'variant':<20} {'input':<6} {'images/s':>9} {'ratio':>7}"
              f"   {'compute only':>12} {'ratio':>7}")
        results: dict[tuple[str, str, str], float] = {}
        for backbone in args.backbones.split(","):
            measure_backbone(backbone, specs, root, args, results)
        if args.grad_norms:
            print()
            print_grad_norm_cost(results, args)
        if cuda:
            print_projection(results, args.crop_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
