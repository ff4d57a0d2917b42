"""Fixtures of the server tests: generated photos, apps over the tiny trained run, a live uvicorn server."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from persona_iaa import load_model  # noqa: E402
from persona_iaa.server.app import create_app  # noqa: E402

from ..helpers import copy_without_personality  # noqa: E402


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like picture: a sky gradient, a ground band and a bright disc, different for each seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([40 + 120 * yy / height, 90 + 100 * yy / height, 200 - 60 * yy / height], -1)
    horizon = height * rng.uniform(0.45, 0.75)
    ground = np.array(rng.uniform(20, 160, 3), np.float32)
    pixels = np.where((yy > horizon)[..., None], ground, sky)
    cx, cy, r = (
        rng.uniform(0.2, 0.8) * width,
        rng.uniform(0.2, 0.6) * height,
        rng.uniform(0.08, 0.2) * min(width, height),
    )
    disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
    pixels[disc] = rng.uniform(150, 255, 3)
    pixels += rng.normal(0, 8, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory) -> list[Path]:
    """Six JPEGs of several sizes and aspect ratios (landscape, portrait, square)."""
    folder = tmp_path_factory.mktemp("photos")
    sizes = [(320, 200), (200, 300), (256, 256), (400, 240), (240, 360), (300, 200)]
    paths = []
    for seed, (w, h) in enumerate(sizes):
        path = folder / f"photo_{seed}.jpg"
        photo(w, h, seed).save(path, quality=90)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def broken_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("broken") / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return path


@pytest.fixture(scope="session")
def predictor(trained_run):
    return load_model(trained_run, device="cpu", workers=0)


@pytest.fixture(scope="session")
def traitless_run(trained_run, tmp_path_factory) -> Path:
    """The trained run, recorded as trained without the personality task."""
    return copy_without_personality(trained_run, tmp_path_factory.mktemp("traitless") / "run")


class LiveServer:
    """A real uvicorn server on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: Any):
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=30)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


@pytest.fixture
def live_server() -> Callable[..., LiveServer]:
    """``with live_server(app) as server: httpx.get(server.url + "/health")``."""
    return LiveServer


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def metric(text: str, name: str) -> float:
    """The value of one unlabelled sample in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


class Gate:
    """Holds every model call of an app until :meth:`release`, so tests can fill queues deterministically."""

    def __init__(self, app: Any):
        self.open = threading.Event()
        self.batches: list[int] = []
        batcher = app.state.service.batcher
        infer = batcher.infer

        def held(arrays):
            self.batches.append(len(arrays))
            self.open.wait(timeout=120)
            return infer(arrays)

        batcher.infer = held

    def release(self) -> None:
        self.open.set()


@pytest.fixture
def app_factory(predictor) -> Iterator[Callable[..., Any]]:
    """Apps over the shared predictor; each keeps its own limits, metrics and batcher."""
    yield lambda **kw: create_app(predictor, **kw)


@pytest.fixture(scope="session")
def fitted_profile(predictor, tmp_path_factory) -> Path:
    """A profile with weights fitted for the test model: a strong Openness lover (re-ranks the photos)."""
    from persona_iaa.personal import Profile

    path = tmp_path_factory.mktemp("profiles") / "me.json"
    weights = np.array([4.0, -1.0, 0.5, 0.0, -2.0])
    Profile(weights=weights, offset=0.05, model=predictor.fingerprint, instrument="fit").save(path)
    return path
