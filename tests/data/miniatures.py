"""Generated miniatures of each dataset's real on-disk layout, quirks included (no real data is copied).

Each writer returns what a test needs to know about the files it wrote (ids, names, expected labels).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image


def save_photo(path: Path, kind: str = "rgb", size: tuple[int, int] = (40, 30), seed: int = 0) -> Path:
    """A small JPEG: ``rgb``, ``gray`` (mode L), ``cmyk``, ``rotated`` (EXIF orientation 6) or
    ``truncated``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if kind == "gray":
        image.convert("L").save(path, quality=90)
    elif kind == "cmyk":
        image.convert("CMYK").save(path, quality=90)
    elif kind == "rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # stored sideways: upright means rotating 90 degrees
        image.save(path, quality=90, exif=exif)
    elif kind == "truncated":
        image.save(path, quality=90)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        image.save(path, quality=90)
    return path


def photos(root: Path, n: int) -> list[str]:
    """``n`` small photos ``0.jpg`` .. in ``root``; their names, for a label file beside them."""
    for i in range(n):
        save_photo(root / f"{i}.jpg", size=(12, 10), seed=i)
    return [f"{i}.jpg" for i in range(n)]


def write_csv(path: Path, header: list[str], rows) -> None:
    """A comma-separated label file as ``csv.writer`` writes it."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# -- AVA ---------------------------------------------------------------------------------------------
def write_ava(root: Path, n: int = 40, seed: int = 0, nested: bool = False) -> dict:
    """AVA.txt + images/<id>.jpg + aesthetics_image_lists/generic_test.jpgl, with the release's gaps.

    Quirks: two ids missing on disk (one of them in the test list), a publicly known corrupt id present
    on disk, a test-list id absent from AVA.txt, a grayscale and a CMYK image.
    """
    base = root / "AVA_dataset" if nested else root
    rng = np.random.default_rng(seed)
    ids = [100000 + 7 * i for i in range(n)]
    ids[3] = 2129  # a publicly known corrupt id (its file exists)
    rows, votes = [], {}
    for index, image_id in enumerate(ids, start=1):
        counts = rng.multinomial(int(rng.integers(60, 200)), rng.dirichlet(np.ones(10))).tolist()
        votes[str(image_id)] = counts
        rows.append(" ".join(map(str, [index, image_id, *counts, 1, 22, 1396])))  # tags 1, 22; challenge
    base.mkdir(parents=True, exist_ok=True)
    (base / "AVA.txt").write_text("\n".join(rows) + "\n")
    missing = {str(ids[5]), str(ids[6])}
    test_ids = [str(i) for i in ids[6:14]] + ["999999"]  # ids[6] is missing on disk; 999999 is not in AVA.txt
    (base / "aesthetics_image_lists").mkdir(exist_ok=True)
    (base / "aesthetics_image_lists" / "generic_test.jpgl").write_text("\n".join(test_ids) + "\n")
    for position, image_id in enumerate(ids):
        if str(image_id) not in missing:
            kind = {1: "gray", 2: "cmyk"}.get(position, "rgb")
            save_photo(base / "images" / f"{image_id}.jpg", kind, seed=position)
    return {"ids": [str(i) for i in ids], "votes": votes, "missing": missing, "corrupt": {"2129"},
            "test": set(test_ids[1:-1]), "base": base}


# -- AADB --------------------------------------------------------------------------------------------
AADB_ATTRIBUTES = ("BalacingElements", "ColorHarmony", "Content", "DoF", "Light", "MotionBlur", "Object",
                   "Repetition", "RuleOfThirds", "Symmetry", "VividColor")


def aadb_name(part: str, i: int) -> str:
    return f"farm1_{300 + i}_{19000000000 + i}_{part.lower()}{i:03d}ab_b.jpg"


def write_aadb(root: Path, nested: bool = True, n_train: int = 16, n_val: int = 4, n_test: int = 6) -> dict:
    """imgListFiles_label (nested twice, as some zips are) with score + 11 attribute lists per part.

    Quirks: the misspelt ``BalacingElements``; two TestNew images also listed in Train (overlap); an
    old-Test list; TestNew images only under ``AADB_newtest/`` with score-prefixed names; one train
    image missing on disk.
    """
    labels = root / "imgListFiles_label" / ("imgListFiles_label" if nested else "")
    labels.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    parts = {"Train": [aadb_name("train", i) for i in range(n_train)],
             "Validation": [aadb_name("val", i) for i in range(n_val)],
             "Test": [aadb_name("oldtest", i) for i in range(n_test)],
             "TestNew": [aadb_name("new", i) for i in range(n_test)]}
    parts["Train"] += parts["TestNew"][:2]  # a derived copy's overlap
    scores = {name: round(float(rng.integers(0, 21)) / 20, 3) for names in parts.values() for name in names}
    attributes = {name: {a: round(float(rng.uniform(-1, 1)), 3) for a in AADB_ATTRIBUTES} for name in scores}
    for part, names in parts.items():
        (labels / f"imgList{part}Regression_score.txt").write_text(
            "".join(f"{n} {scores[n]:.3f}\n" for n in names))
        for attribute in AADB_ATTRIBUTES:
            (labels / f"imgList{part}Regression_{attribute}.txt").write_text(
                "".join(f"{n} {attributes[n][attribute]}\n" for n in names))
    missing = parts["Train"][0]
    for part in ("Train", "Validation", "Test"):
        for i, name in enumerate(parts[part]):
            if name != missing and name not in parts["TestNew"]:
                save_photo(root / "datasetImages_originalSize" / name, seed=i)
    for i, name in enumerate(parts["TestNew"]):
        save_photo(root / "AADB_newtest" / f"{scores[name]:.3f}_{name}", "gray" if i == 0 else "rgb", seed=i)
    return {"parts": parts, "scores": scores, "attributes": attributes, "missing": missing, "labels": labels}


# -- PsychoFlickr ------------------------------------------------------------------------------------
def write_psychoflickr(root: Path, n_users: int = 6, per_user: int = 4, scale: str = "bfi10") -> dict:
    """Per-user folders + ``traits.csv`` with columns in a shuffled order and named in full.

    Quirks: a user folder without traits, a user in the table without a folder, a user with a blank
    trait, grayscale images. ``scale``: bfi10 (2..10), items (-4..4) or unit.
    """
    rng = np.random.default_rng(2)
    users = [f"user{u:03d}" for u in range(n_users)]
    raw = {}
    for u in users:
        if scale == "bfi10":
            raw[u] = [int(v) for v in rng.integers(2, 11, 5)]
        elif scale == "items":
            raw[u] = [int(v) for v in rng.integers(-4, 5, 5)]
        else:
            raw[u] = [round(float(v), 3) for v in rng.uniform(-1, 1, 5)]
    for position, user in enumerate(users + ["no_traits_user"]):
        for i in range(per_user):
            save_photo(root / user / f"{i:04d}.jpg", "gray" if i == 0 else "rgb", seed=position * 10 + i)
    header = ["Neuroticism", "username", "Openness", "Agreeableness", "Conscientiousness", "Extraversion"]
    with (root / "traits.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for user in users:
            o, c, e, a, n = raw[user]
            writer.writerow([n, user, o, a, c, e])
        writer.writerow([5, "no_folder_user", 5, 5, 5, 5])
        writer.writerow(["", "blank_user", 5, 5, 5, 5])
    (root / "blank_user").mkdir()
    save_photo(root / "blank_user" / "0000.jpg")
    return {"users": users, "raw": raw, "per_user": per_user}


def write_pa_iaa_personality(root: Path, n: int = 12, header: Optional[list[str]] = None) -> dict:
    """PA-IAA's ``Personality.csv``: space-separated, a header, image path then five traits in [-1, 1]."""
    rng = np.random.default_rng(3)
    rows = {}
    lines = [" ".join(header or ["image", "O", "C", "E", "A", "N"])]
    for i in range(n):
        path = f"user{i % 3}/{i:04d}.jpg"
        values = [round(float(v), 3) for v in rng.uniform(-1, 1, 5)]
        rows[path] = values
        lines.append(" ".join([path, *map(str, values)]))
        if i != n - 1:  # the last image is missing on disk
            save_photo(root / path, seed=i)
    (root / "Personality.csv").write_text("\n".join(lines) + "\n")
    return {"rows": rows, "missing": f"user{(n - 1) % 3}/{n - 1:04d}.jpg"}


# -- PARA --------------------------------------------------------------------------------------------
PARA_USER_HEADER = ["userId", "age", "gender", "EducationalLevel", "artExperience", "photographyExperience",
                    "personality-E", "personality-A", "personality-N", "personality-O", "personality-C"]
PARA_IMAGE_HEADER = ["sessionId", "imageName", "userId", "aestheticScore", "qualityScore", "compositionScore",
                     "colorScore", "dofScore", "contentScore", "lightScore", "isObjectEmphasis", "imgEmotion",
                     "difficultyOfJudgment", "contentPreference", "willingnessToShare", "semantic"]


def write_para(root: Path, n_images: int = 16, n_users: int = 6, giaa: bool = True) -> dict:
    """PARA-UserInfo/Images/GiaaTrain/GiaaTest CSVs under annotation/, images under imgs/<session>/.

    Quirks: a rater missing from PARA-UserInfo.csv, an image nobody liked, an image missing on disk.
    """
    rng = np.random.default_rng(4)
    annotation = root / "annotation"
    annotation.mkdir(parents=True)
    # userId -> BFI-10 traits in the file's order: E, A, N, O, C
    users = {f"A{u:03d}ee{u % 10}": [int(v) for v in rng.integers(2, 11, 5)] for u in range(n_users)}
    with (annotation / "PARA-UserInfo.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PARA_USER_HEADER)
        for user, (e, a, n, o, c) in users.items():
            writer.writerow([user, "22-25", "female", "university", "competent", "beginner", e, a, n, o, c])
    images = [(f"session{1 + i // 5}", f"iaa_pub{i + 1}_.jpg") for i in range(n_images)]
    ratings: dict[tuple[str, str], list[tuple[str, float]]] = {}
    with (annotation / "PARA-Images.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PARA_IMAGE_HEADER)
        for position, key in enumerate(images):
            raters = list(users) + (["Aunknown"] if position == 0 else [])
            for user in raters:
                score = 2.0 if position == 1 else float(rng.integers(2, 11)) / 2  # image 1: nobody likes it
                ratings.setdefault(key, []).append((user, score))
                writer.writerow([key[0], key[1], user, score, 3, 3, 3, 3, 3, 3, 1, "neutral", 0, 3, 3,
                                 "plant"])
    giaa_rows = {"train": images[: n_images * 3 // 4], "test": images[n_images * 3 // 4:]}
    if giaa:
        for split, keys in giaa_rows.items():
            with (annotation / f"PARA-Giaa{split.capitalize()}.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["imageName", "sessionId", "semantic", "aestheticScore_1.0",
                                 "aestheticScore_mean",
                                 "aestheticScore_std", "qualityScore_mean", "personality-E", "personality-O"])
                for session, name in keys:
                    scores = [s for _, s in ratings[(session, name)]]
                    writer.writerow([name, session, "plant", 0, np.mean(scores), np.std(scores),
                                     3.1, 6.5, 7.2])
    missing = images[-1]
    for i, (session, name) in enumerate(images):
        if (session, name) != missing:
            save_photo(root / "imgs" / session / name, "cmyk" if i == 2 else "rgb", seed=i)
    return {"users": users, "images": images, "ratings": ratings, "giaa": giaa_rows, "missing": missing}


# -- FLICKR-AES --------------------------------------------------------------------------------------
def write_flickr_aes(root: Path, n_images: int = 10) -> dict:
    """Image score file (names preceded by a space) + per-worker CSV whose header has spaces after commas."""
    rng = np.random.default_rng(5)
    names = [f"farm{1 + i % 3}_{100 + i}_{5000000 + i}_{i:04x}ab.jpg" for i in range(n_images)]
    workers = ["A10VDYXRLMTMG2", "A2XQ5N3Z4T0A1", "A3PQRS0W8ZK7C"]
    ratings = {name: [(w, int(rng.integers(1, 6))) for w in workers[: 1 + i % 3]]
               for i, name in enumerate(names)}
    lines = ["worker, imagePair, score"] + [f"{w}, {name}, {s}"
                                            for name, pairs in ratings.items() for w, s in pairs]
    (root / "FLICKR-AES_image_labeled_by_each_worker.csv").parent.mkdir(parents=True, exist_ok=True)
    (root / "FLICKR-AES_image_labeled_by_each_worker.csv").write_text("\n".join(lines) + "\n")
    scores = {name: float(np.mean([s for _, s in pairs])) for name, pairs in ratings.items()}
    (root / "FLICKR-AES_image_score.txt").write_text("".join(f" {n} {s:.4f}\n" for n, s in scores.items()))
    for i, name in enumerate(names[:-1]):  # the last image is missing on disk
        save_photo(root / "40K" / name, seed=i)
    return {"names": names, "ratings": ratings, "scores": scores, "missing": names[-1]}
