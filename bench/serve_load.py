"""Load on the real server: throughput against offline ``score``, latency, status codes and memory.

Starts ``persona-iaa serve`` (uvicorn) on 127.0.0.1 as a separate process, then sends a bounded number
of requests at concurrency 1, 8 and 32, first one photo per request, then several, and prints for each
level: images/s as a ratio to offline ``score`` on the same photos in this run (the engine with its
decoding processes, as the CLI runs it), p50/p95/p99 latency, the count of each status code, and the
server's RSS before and after. ``--soak N`` then sends N more requests at concurrency 8 and prints the
RSS every N/4 requests (flat means bounded memory). The client runs on the same machine and takes some
of its cores: read the ratios, not the absolute figures.

    python bench/serve_load.py                                  # tiny model, 1024x768 JPEGs
    python bench/serve_load.py --backbone densenet121 --requests 96 --soak 0
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
from photos import write_photos

from persona_iaa import build_model, load_model
from persona_iaa.data.transforms import Preprocessing
from persona_iaa.training.checkpoint import save_model


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(run: Path, port: int, max_queue: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "persona_iaa",
        "serve",
        "--checkpoint",
        str(run),
        "--port",
        str(port),
        "--device",
        "cpu",
        "--max-queue",
        str(max_queue),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("the server did not start within 300 s")


def offline_rate(run: Path, paths: list[str]) -> float:
    """Images/s of the scoring engine, as ``persona-iaa score`` runs it (best of two passes)."""
    predictor = load_model(run, device="cpu")
    list(predictor.score(paths[:8]))
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        list(predictor.score(paths))
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


async def load(url: str, payloads: list[list[tuple[str, bytes]]], concurrency: int) -> dict:
    """Send every payload (one request each) with ``concurrency`` requests in flight."""
    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    images = 0
    queue = list(reversed(payloads))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def worker() -> None:
            nonlocal images
            while queue:
                files = queue.pop()
                start = time.perf_counter()
                try:
                    response = await client.post("/score", files=[("files", f) for f in files])
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - start)
                statuses[status] += 1
                images += len(files) if status == 200 else 0

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return {"rate": images / seconds, "latency": np.percentile(latencies, [50, 95, 99]), "statuses": statuses}


def rss_mib(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def print_level(label: str, result: dict, offline: float, before: float, after: float) -> None:
    p50, p95, p99 = (v * 1000 for v in result["latency"])
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(result["statuses"].items(), key=str))
    print(
        f"| {label} | {result['rate']:.1f} | {result['rate'] / offline:.2f} "
        f"| {p50:.0f} | {p95:.0f} | {p99:.0f} "
        f"| {statuses} | {before:.0f} -> {after:.0f} |",
        flush=True,
    )


def run_levels(
    url: str, pid: int, photos: list[tuple[str, bytes]], args: argparse.Namespace, offline: float
) -> None:
    print(
        "\n| requests x photos, concurrency | img/s | vs offline | p50 ms | p95 ms | p99 ms | statuses "
        "| server RSS MiB |\n|---|---:|---:|---:|---:|---:|---|---|"
    )
    for per_request in (1, args.per_request):
        for concurrency in (1, 8, 32):
            count = args.requests if per_request == 1 else max(args.requests // per_request, concurrency)
            payloads = [
                [photos[(i * per_request + k) % len(photos)] for k in range(per_request)]
                for i in range(count)
            ]
            before = rss_mib(pid)
            result = asyncio.run(load(url, payloads, concurrency))
            print_level(f"{count} x {per_request}, c={concurrency}", result, offline, before, rss_mib(pid))


def soak(url: str, pid: int, photos: list[tuple[str, bytes]], total: int) -> None:
    print(f"\nsoak: {total} one-photo requests at concurrency 8; server RSS every {total // 4}")
    samples = [rss_mib(pid)]
    statuses: collections.Counter = collections.Counter()
    for quarter in range(4):
        payloads = [[photos[(quarter * total + i) % len(photos)]] for i in range(total // 4)]
        result = asyncio.run(load(url, payloads, 8))
        statuses.update(result["statuses"])
        samples.append(rss_mib(pid))
    print("RSS MiB: " + " -> ".join(f"{s:.0f}" for s in samples) + f"   statuses: {dict(statuses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--checkpoint", help="a trained run to serve instead of a fresh --backbone model")
    parser.add_argument("--photos", type=int, default=48, help="distinct photos sent (and scored offline)")
    parser.add_argument("--size", default="1024x768", help="JPEG width x height")
    parser.add_argument("--requests", type=int, default=200, help="requests per level (one photo each)")
    parser.add_argument("--per-request", type=int, default=4, help="photos per request in the second round")
    parser.add_argument("--soak", type=int, default=2000, help="requests of the soak test (0: none)")
    parser.add_argument("--max-queue", type=int, default=64)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp) / "photos", args.photos, width, height)
        run = Path(args.checkpoint) if args.checkpoint else Path(tmp) / "run"
        if not args.checkpoint:
            save_model(run, build_model(args.backbone).eval(), Preprocessing())
        offline = offline_rate(run, paths)
        print(
            f"{os.cpu_count()} CPUs; {args.photos} photos of {width}x{height}; "
            f"model {args.backbone if not args.checkpoint else run}; "
            f"offline score: {offline:.1f} img/s"
        )
        port = free_port()
        server = start_server(run, port, args.max_queue)
        try:
            photos = [(Path(p).name, Path(p).read_bytes()) for p in paths]
            url = f"http://127.0.0.1:{port}"
            run_levels(url, server.pid, photos, args, offline)
            if args.soak:
                soak(url, server.pid, photos, args.soak)
        finally:
            server.terminate()
            server.wait(timeout=120)
        # The machine may be shared: a second offline figure brackets the first.
        print(f"\noffline score again after the server runs: {offline_rate(run, paths):.1f} img/s")


if __name__ == "__main__":
    main()
