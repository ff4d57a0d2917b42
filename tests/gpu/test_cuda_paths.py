"""The CUDA paths, proven on a real accelerator: `pytest -m gpu` (skipped where no CUDA device is present).

Run by bench/gpu_check.sh on a lent GPU machine. Each test drives the public code path a GPU user takes:
training steps in fp32 / bf16 / fp16 (grad scaler), SyncBatchNorm under a process group, channels-last
and torch.compile, CUDA scoring with torch and onnxruntime's CUDA provider, nvJPEG decoding against the
CPU decoder, and resume on the GPU.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import tiny_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)"),
]

#: nvJPEG's IDCT and chroma upsampling differ from libjpeg-turbo's: the documented tolerance, in grey levels.
NVJPEG_MEAN_ABS_LEVELS = 1.0
NVJPEG_P99_LEVELS = 4


def _train(tmp_path, demo_data, *overrides: str) -> dict:
    from persona_iaa.training.protocol import train

    return train(tiny_config(tmp_path, demo_data, "train.device=cuda", *overrides))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_runs_on_cuda_in_each_precision(tmp_path, demo_data, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    result = _train(tmp_path / precision, demo_data, f"train.precision={precision}")
    assert result["training"]["precision"] == precision
    assert math.isfinite(result["test"]["rmse"]) and result["test"]["n"] > 0


def test_channels_last_and_compile_train_on_cuda(tmp_path, demo_data):
    result = _train(tmp_path, demo_data, "train.precision=bf16", "train.channels_last=true",
                    "train.compile=true")
    assert math.isfinite(result["test"]["srocc"])


def test_sync_batchnorm_conversion_trains_under_nccl(tmp_path):
    import torch.distributed as dist

    from persona_iaa.models.pdmtl import build_model
    from persona_iaa.training.distributed import DistContext, wrap_for_training

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("nccl", store=store, rank=0, world_size=1)
    try:
        device = torch.device("cuda", 0)
        model = build_model("tiny").to(device).train()
        reference = build_model("tiny").to(device).train()
        reference.load_state_dict(model.state_dict())
        # a context that calls itself distributed: conversion and DDP over the one-rank nccl group
        ctx = dataclasses.replace(DistContext(device=device), world_size=2)
        wrapped = wrap_for_training(model, ctx, sync_batchnorm=True, compile_module=False)
        assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in wrapped.modules())
        images = torch.rand(8, 3, 32, 32, device=device)
        out = wrapped(images)
        out.score.sum().backward()
        # one rank: the global batch is the local batch, so SyncBatchNorm equals BatchNorm
        torch.testing.assert_close(out.score, reference(images).score, rtol=1e-4, atol=1e-5)
    finally:
        dist.destroy_process_group()


def test_resume_on_cuda_continues_the_run(tmp_path, demo_data):
    from persona_iaa.training.protocol import train

    run = tmp_path / "run"
    train(tiny_config(run, demo_data, "train.device=cuda", "train.epochs=1"))
    result = train(tiny_config(run, demo_data, "train.device=cuda", "train.epochs=2"), resume=True)
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(run / "metrics.csv")) if r.get("stage") == "1"]
    assert epochs.count(1) == 1 and 2 in epochs
    assert math.isfinite(result["test"]["rmse"])


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_cuda_scoring_matches_cpu(trained_run, demo_data, engine):
    from persona_iaa import load_model

    if engine == "onnx":
        ort = pytest.importorskip("onnxruntime")
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            pytest.skip("onnxruntime without the CUDA provider (install onnxruntime-gpu)")
    root = demo_data["aesthetic"].split(":", 1)[1]
    images = sorted(Path(root).rglob("*.jpg"))[:16]
    assert images
    cpu = [r.score for r in load_model(trained_run, device="cpu", engine="torch").score(images)]
    gpu_model = load_model(trained_run, device="cuda", engine=engine, precision="fp32")
    gpu = [r.score for r in gpu_model.score(images)]
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)


def test_nvjpeg_decoding_matches_cpu_within_tolerance():
    from torchvision.io import decode_jpeg

    rng = np.random.default_rng(0)
    pixels = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    data = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    cpu = decode_jpeg(data).int()
    gpu = decode_jpeg(data, device="cuda").cpu().int()
    diff = (cpu - gpu).abs().float()
    assert gpu.shape == cpu.shape
    assert diff.mean() <= NVJPEG_MEAN_ABS_LEVELS and torch.quantile(diff.flatten(), 0.99) <= NVJPEG_P99_LEVELS



def test_gpu_decode_scores_like_cpu_decoding_and_falls_back_for_other_files(trained_run, demo_data, tmp_path):
    from persona_iaa import load_model

    root = demo_data["aesthetic"].split(":", 1)[1]
    images = sorted(Path(root).rglob("*.jpg"))[:8]
    png = tmp_path / "not_a_jpeg.png"
    Image.open(images[0]).save(png)  # nvJPEG never sees it: the CPU path decodes it
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(images[0].read_bytes()[:200])
    inputs = [*images, png, broken]
    cpu = list(load_model(trained_run, device="cuda", precision="fp32").score(inputs))
    gpu = list(load_model(trained_run, device="cuda", precision="fp32", gpu_decode=True).score(inputs))
    assert [r.ok for r in gpu] == [r.ok for r in cpu] == [True] * (len(images) + 1) + [False]
    np.testing.assert_allclose([r.score for r in gpu[:-1]], [r.score for r in cpu[:-1]], atol=1e-2)


def test_torchrun_scoring_uses_one_gpu_per_rank(trained_run, demo_data, tmp_path):
    import os
    import subprocess
    import sys

    if torch.cuda.device_count() < 1:
        pytest.skip("needs a CUDA device")
    root = demo_data["aesthetic"].split(":", 1)[1]
    out = tmp_path / "scores.csv"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "persona_iaa", "score", "--checkpoint", str(trained_run), root, "--output", str(out)]
    done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with out.open() as handle:
        assert len(list(csv.DictReader(handle))) == len(list(Path(root).rglob("*.jpg")))
