"""Generated photo-like JPEGs for the scoring benchmarks (no dataset can be downloaded here).

Smooth gradients alone would decode unrealistically fast, so each image also carries blocky
mid-frequency texture and sensor-like noise: its JPEG entropy, and thus decode time, is that of a photo.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def photo(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6.28, 3)
    base = np.stack([xx / width * 255, yy / height * 255,
                     (np.sin(xx / 37 + phase[0]) + np.cos(yy / 53 + phase[1])) * 60 + 128], -1)
    cells = rng.random((height // 16 + 1, width // 16 + 1, 3)).astype(np.float32) * 80
    texture = np.kron(cells, np.ones((16, 16, 1), np.float32))[:height, :width]
    noise = rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(base * 0.7 + texture + noise, 0, 255).astype(np.uint8))


def write_photos(folder: Path, count: int, width: int, height: int, *, distinct: int = 16) -> list[str]:
    """``count`` JPEGs (quality 90) in ``folder``; only ``distinct`` are rendered, the rest are copies."""
    folder.mkdir(parents=True, exist_ok=True)
    rendered = []
    for i in range(min(count, distinct)):
        path = folder / f"photo_{i:06d}.jpg"
        photo(width, height, seed=i).save(path, quality=90)
        rendered.append(path.read_bytes())
    paths = []
    for i in range(count):
        path = folder / f"photo_{i:06d}.jpg"
        if i >= distinct:
            path.write_bytes(rendered[i % distinct])
        paths.append(str(path))
    return paths
