"""The demo world: generated photos whose labels follow documented, visible rules.

This demonstrates the mechanism (two domains, alternating training, inter-task weights); it is not
evidence for the paper's claims. Each image is a sky/ground scene with one subject, drawn from five
hidden properties in [0, 1]:

=============== =========================================== ==========================================
property        what you see                                effect on labels
=============== =========================================== ==========================================
exposure        overall brightness (0.5-0.7 is well exposed) aesthetic: + near 0.6; traits: E +, N -
sharpness       Gaussian blur radius shrinks as it grows    aesthetic: +; traits: C +
colourfulness   saturation of sky, ground and subject       aesthetic: +; traits: O +, A +
composition     subject on a rule-of-thirds point vs off    aesthetic: +
darkness        a dark vignette closing the scene           aesthetic: -; traits: N +, A -
=============== =========================================== ==========================================

Aesthetic score (in [0, 1]) = 0.10 + 0.30*(1 - |exposure - 0.6|/0.6) + 0.20*sharpness
+ 0.15*colourfulness + 0.15*composition - 0.15*darkness + N(0, 0.03), clipped.
Liker traits (in [-1, 1]) are linear in the same properties plus noise (see :func:`liker_traits`).
The aesthetic set is written in the AADB list-file layout, the personality set as a ``csv:`` file. As in the
paper's AADB experiment, the personality domain is much larger than the aesthetic one (3,000 vs 350 images).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from ..constants import TRAITS

PROPERTIES = ("exposure", "sharpness", "colourfulness", "composition", "darkness")


def aesthetic_score(p: dict[str, float], rng: np.random.Generator) -> float:
    value = (0.10 + 0.30 * (1 - abs(p["exposure"] - 0.6) / 0.6) + 0.20 * p["sharpness"]
             + 0.15 * p["colourfulness"] + 0.15 * p["composition"] - 0.15 * p["darkness"])
    return float(np.clip(value + rng.normal(0, 0.03), 0.0, 1.0))


def liker_traits(p: dict[str, float], rng: np.random.Generator) -> list[float]:
    """O, C, E, A, N of the users who like an image with properties ``p``."""
    o = 1.2 * p["colourfulness"] - 0.6
    c = 1.2 * p["sharpness"] - 0.6
    e = 1.4 * p["exposure"] - 0.7
    a = 0.8 * p["colourfulness"] - 0.8 * p["darkness"]
    n = 1.2 * p["darkness"] - 0.6 * p["exposure"]
    return [float(np.clip(v + rng.normal(0, 0.08), -1, 1)) for v in (o, c, e, a, n)]


def render(p: dict[str, float], size: int, rng: np.random.Generator) -> Image.Image:
    """Draw one scene from its properties."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    hue_sky, hue_ground = rng.uniform(0.5, 0.7), rng.uniform(0.15, 0.4)
    sat = 0.1 + 0.9 * p["colourfulness"]

    def colour(hue: float, value: float) -> np.ndarray:
        rgb = np.array([abs(hue * 6 - 3) - 1, 2 - abs(hue * 6 - 2), 2 - abs(hue * 6 - 4)]).clip(0, 1)
        return value * (1 - sat + sat * rgb)

    horizon = rng.uniform(0.45, 0.7)
    sky, ground = colour(hue_sky, 0.9)[None, None], colour(hue_ground, 0.6)[None, None]
    image = np.where((yy < horizon)[..., None], sky, ground)
    image = image * (0.9 + 0.1 * yy[..., None])
    if p["composition"] > 0.5:  # a rule-of-thirds point
        cx, cy = rng.choice([1 / 3, 2 / 3]), rng.choice([1 / 3, 2 / 3])
    else:  # dead centre or jammed against an edge
        cx, cy = (0.5, 0.5) if rng.random() < 0.5 else (rng.choice([0.08, 0.92]), rng.uniform(0.1, 0.9))
    radius = rng.uniform(0.1, 0.16)
    subject = ((xx - cx) ** 2 + (yy - cy) ** 2) < radius**2
    image[subject] = colour(rng.uniform(0, 1), 0.95)
    image = image * (0.25 + 1.5 * p["exposure"])
    vignette = 1 - p["darkness"] * np.clip(((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 4, 0, 1)
    image = image * vignette[..., None]
    pil = Image.fromarray((image.clip(0, 1) * 255).astype(np.uint8))
    blur = (1 - p["sharpness"]) * size / 40
    return pil.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.05 else pil


def _properties(rng: np.random.Generator) -> dict[str, float]:
    return {name: float(rng.uniform()) for name in PROPERTIES}


def make_demo_data(root: Path, *, n_train: int = 250, n_val: int = 100, n_test: int = 300,
                   n_personality: int = 3000, size: int = 96, seed: int = 0) -> dict[str, Any]:
    """Write the aesthetic set (AADB layout) and personality set (csv) under ``root``; returns specs."""
    rng = np.random.default_rng(seed)
    aadb = root / "aesthetic"
    labels, images = aadb / "imgListFiles_label", aadb / "datasetImages_warp256"
    labels.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    for part, count in (("Train", n_train), ("Validation", n_val), ("TestNew", n_test)):
        lines = []
        for i in range(count):
            props = _properties(rng)
            name = f"farm1_{part.lower()}_{i:05d}_b.jpg"
            render(props, size, rng).save(images / name, quality=92)
            lines.append(f"{name} {aesthetic_score(props, rng):.4f}")
        (labels / f"imgList{part}Regression_score.txt").write_text("\n".join(lines) + "\n")
    personality = root / "personality"
    (personality / "images").mkdir(parents=True, exist_ok=True)
    with (personality / "traits.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", *TRAITS])
        for i in range(n_personality):
            props = _properties(rng)
            name = f"images/liked_{i:05d}.jpg"
            render(props, size, rng).save(personality / name, quality=92)
            writer.writerow([name, *(f"{t:.4f}" for t in liker_traits(props, rng))])
    return {"aesthetic": f"aadb:{aadb}", "personality": f"csv:{personality / 'traits.csv'}"}
