"""A generated world of people whose taste follows their own traits, written in the PARA layout.

It shows the personalisation mechanism; it is not evidence about real people. Photos are the demo
world's scenes (:mod:`persona_iaa.data.synthetic`): each has hidden properties, a quality ``q`` (the
demo's aesthetic rule) and the traits ``L`` of the people who like such a photo (its liker rule).
Each person has Big-Five traits ``t`` (BFI-10 sums 2..10, mapped by (x - 6) / 4) and rates photos by

    rating = 1 + 4 * clip(b + s * (q + TASTE * (t . L) / 5) + noise, 0, 1), rounded to half points

— people like what people like them like (the paper's premise), and use the scale their own way
(offset ``b``, spread ``s``). So a person's weights on the model's trait outputs follow their traits,
which is what the zero-shot mapping has to find, and their ratings reveal them, which is what a
few-shot fit uses.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import TRAITS
from ..data.synthetic import PROPERTIES, aesthetic_score, liker_traits, render

#: How strongly the trait match moves a rating, against the photo's quality (0..1).
TASTE = 1.5
NOISE = 0.05
USER_COLUMNS = (
    "userId",
    "age",
    "gender",
    "EducationalLevel",
    "artExperience",
    "photographyExperience",
    "personality-E",
    "personality-A",
    "personality-N",
    "personality-O",
    "personality-C",
)
PARA_ORDER = ("E", "A", "N", "O", "C")  # PARA-UserInfo.csv's trait column order


def person_rating(
    quality: float,
    likers: np.ndarray,
    traits: np.ndarray,
    offset: float,
    spread: float,
    rng: np.random.Generator,
) -> float:
    """The rule of the module docstring, 1..5 in half points."""
    value = offset + spread * (quality + TASTE * float(traits @ likers) / 5) + rng.normal(0, NOISE)
    return float(np.round(2 * (1 + 4 * np.clip(value, 0, 1))) / 2)


def _write_users(path: Path, users: list[str], sums: np.ndarray, rng: np.random.Generator) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(USER_COLUMNS)
        for user, row in zip(users, sums):
            by_trait = dict(zip(TRAITS, row))
            writer.writerow(
                [
                    user,
                    rng.choice(["18-21", "22-25", "26-29"]),
                    rng.choice(["female", "male"]),
                    "university",
                    "beginner",
                    "beginner",
                    *(int(by_trait[t]) for t in PARA_ORDER),
                ]
            )


def make_people_world(
    root: Path,
    *,
    n_images: int = 400,
    n_people: int = 60,
    ratings_per_person: int = 150,
    size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``PARA-UserInfo.csv``, ``PARA-Images.csv`` and ``imgs/`` under ``root``; return the truth."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    images, properties, quality, likers = [], [], [], []
    for i in range(n_images):
        props = {name: float(rng.uniform()) for name in PROPERTIES}
        session, name = f"session{i // 100 + 1}", f"iaa_pub{i + 1}_.jpg"
        (root / "imgs" / session).mkdir(parents=True, exist_ok=True)
        render(props, size, rng).save(root / "imgs" / session / name, quality=92)
        images.append((session, name))
        properties.append(props)
        quality.append(aesthetic_score(props, rng))
        likers.append(liker_traits(props, rng))
    users = [f"U{j:04d}" for j in range(n_people)]
    sums = rng.integers(2, 11, size=(n_people, 5))  # BFI-10 sums, O C E A N
    traits = (sums - 6) / 4
    offsets, spreads = rng.normal(0, 0.08, n_people), rng.uniform(0.7, 1.3, n_people)
    _write_users(root / "PARA-UserInfo.csv", users, sums, rng)
    with (root / "PARA-Images.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sessionId", "imageName", "userId", "aestheticScore"])
        for j, user in enumerate(users):
            for i in np.sort(rng.choice(n_images, size=min(ratings_per_person, n_images), replace=False)):
                score = person_rating(
                    quality[i], np.asarray(likers[i]), traits[j], offsets[j], spreads[j], rng
                )
                writer.writerow([*images[i], user, f"{score:.1f}"])
    return {
        "spec": f"para:{root}",
        "users": users,
        "traits": traits,
        "properties": properties,
        "paths": [str(root / "imgs" / s / n) for s, n in images],
        "quality": np.asarray(quality),
        "likers": np.asarray(likers),
    }
