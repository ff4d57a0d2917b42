"""Per-user ratings as distributed, for personalisation: ``para:ROOT``, ``flickr-aes:ROOT``, ``csv:FILE``.

Why separate from the training parsers: personalisation needs each *person's* ratings of each image
(and their traits when known), where training needs one label per image. Options follow the spec after
commas: ``csv:ratings.csv,users=users.csv``.

* ``para:ROOT``: ``PARA-Images.csv`` (``sessionId, imageName, userId, aestheticScore`` 1-5) joined with
  ``PARA-UserInfo.csv`` (``personality-E,A,N,O,C``, BFI-10 sums 2..10, mapped by (x - 6) / 4), in ROOT or
  ``ROOT/annotation/``; images ``ROOT/imgs/<sessionId>/<imageName>``. Users in ``PARA-UserInfo.csv`` order.
  Default test users: the last 40 in that order (the community convention of 398 / 40 users;
  KyungsuKim42/PIAA ``para_taskset.py``), the last tenth when there are fewer than 400 users.
* ``flickr-aes:ROOT``: ``FLICKR-AES_image_labeled_by_each_worker.csv`` (``worker, imagePair, score``);
  images in ``40K/``. No traits. Default test users: the 37 test workers published with the MTCL code
  (yzc-ippl/MTCL ``code/PIAA/FlickrAES_PIAA/label/test_workers_ID.csv``) that the file has; the last
  tenth in file order when it has none of them.
* ``csv:FILE``: ``user,path,score`` (paths relative to the file); ``users=FILE`` adds ``user,O,C,E,A,N``
  in [-1, 1] or as BFI-10 sums. Default test users: the last tenth in order of first appearance.

Ratings keep their own scale: personal fits standardise each person's ratings (see
:mod:`persona_iaa.personal.fewshot`). Rated images missing on disk are an error for ``csv:`` (a
person's own list) and skipped, counted, for the large distributed sets.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import DataError
from ..registry import Registry
from .records import FileIndex, resolve_image
from .tables import column, number, open_table, read_table, require_columns
from .traits import normalise_traits, trait_columns

log = logging.getLogger(__name__)

#: The 37 FLICKR-AES test workers of the MTCL code (see the module docstring).
FLICKR_AES_TEST_WORKERS: tuple[str, ...] = (
    "AGXT2OHMTWBRS",
    "AHPUVVEDSDA5F",
    "AJCY65VHJYRG3",
    "A2BHHEWR9PRDX8",
    "A1YCS8Y1BPXBWY",
    "A3L1RRERPBSIWG",
    "A192LAQKHD9LW",
    "A25YI63H4SWKOZ",
    "A2YAYHZYI7M3HD",
    "A3BYQA67Q36BA9",
    "A5ACBHV38DICN",
    "A03922113RU44GENR8ATX",
    "A2AXN2QKLT4EGV",
    "A13G469LJFEIYZ",
    "AN8II2VG05ZWN",
    "A10VDYXRLMTMG2",
    "AIC2D8A9UQO8S",
    "A1A8QBCYM6SFQ8",
    "A3MCQHA2V0G46V",
    "A2KR7F6HPMTVEP",
    "A2O0BD7R62CZP8",
    "A1EQ2HDHF2WWSY",
    "A2VPGMQ2IZKJ7H",
    "A1TOM0H3P1L19Z",
    "A39IGUCTEQR4EK",
    "A2PEIHMPPOB1YJ",
    "A3B9DYMSPRUS4E",
    "A2U83S62P8SZ6T",
    "A1CGBNE3QZFW51",
    "AO62FOJ5E27B4",
    "A2B8HPIZDKYKDR",
    "ALNTW7HS87J5C",
    "A3HZKR9O1XQ624",
    "ASTH7D452IZA7",
    "A242K5TUM9XWO6",
    "A3D46S3V9SYXTT",
    "A75N0N2PWNC9Q",
)
PARA_TEST_USERS = 40


@dataclasses.dataclass(frozen=True)
class PersonRatings:
    """One person's ratings: image paths, their scores (own scale) and traits (O, C, E, A, N) when known."""

    user: str
    paths: tuple[str, ...]
    scores: np.ndarray
    traits: Optional[np.ndarray] = None


@dataclasses.dataclass
class RatingsSource:
    """Every person of a ratings source, in the source's user order, and the default test users."""

    spec: str
    people: list[PersonRatings]
    default_test: list[str]
    default_test_rule: str
    missing_images: int = 0

    @property
    def has_traits(self) -> bool:
        return bool(self.people) and all(p.traits is not None for p in self.people)

    def person(self, user: str) -> PersonRatings:
        for p in self.people:
            if p.user == user:
                return p
        raise DataError(f"{self.spec}: no user {user!r}")


Reader = Callable[[Path, dict[str, str]], RatingsSource]
RATINGS_FORMATS: Registry[Reader] = Registry("ratings format")


def last_tenth(users: list[str]) -> list[str]:
    return users[-max(1, round(len(users) / 10)) :] if users else []


def _people(
    spec: str,
    ratings: dict[str, list[tuple[str, float]]],
    traits: dict[str, np.ndarray],
    order: list[str],
    strict: bool,
) -> tuple[list[PersonRatings], int]:
    """Group ratings per user (in ``order``), checking that each rated image exists."""
    files = FileIndex()
    missing = sorted({path for pairs in ratings.values() for path, _ in pairs if not files.exists(path)})
    if missing and strict:
        raise DataError(f"{spec}: {len(missing)} rated image(s) do not exist, e.g. {missing[0]}")
    if missing:
        log.warning("%s: %d rated image(s) missing on disk are left out", spec, len(missing))
    gone = set(missing)
    people = []
    for user in order:
        pairs = [(p, s) for p, s in ratings.get(user, ()) if p not in gone]
        if pairs:
            paths, scores = zip(*pairs)
            people.append(
                PersonRatings(user, tuple(paths), np.asarray(scores, dtype=np.float64), traits.get(user))
            )
    return people, len(missing)


def _label_file(root: Path, name: str) -> Path:
    for folder in (".", "annotation", "annotations"):
        if (root / folder / name).is_file():
            return root / folder / name
    raise DataError(f"para:{root}: {name} not found (looked in ROOT and ROOT/annotation)")


@RATINGS_FORMATS.register("para")
def read_para(root: Path, options: dict[str, str]) -> RatingsSource:
    spec = f"para:{root}"
    users_file, ratings_file = _label_file(root, "PARA-UserInfo.csv"), _label_file(root, "PARA-Images.csv")
    header, rows = read_table(users_file)
    user_col, trait_cols = column(header, ("userId",), users_file), trait_columns(header)
    if trait_cols is None:
        raise DataError(f"{users_file}: expected personality-O,C,E,A,N columns (header: {', '.join(header)})")
    order = [cells[user_col] for _, cells in rows]
    raw = [[number(cells[i], users_file, line) for i in trait_cols] for line, cells in rows]
    traits = dict(zip(order, normalise_traits(raw, options.get("trait_scale", "bfi10")))) if raw else {}
    ratings: dict[str, list[tuple[str, float]]] = {}
    images = str(root / options.get("images", "imgs"))
    with open_table(ratings_file) as (header, table):
        cols = require_columns(header, ("sessionId", "imageName", "userId", "aestheticScore"), ratings_file)
        for line, cells in table:
            path = os.path.join(images, cells[cols["sessionId"]], cells[cols["imageName"]])  # no Path per row
            ratings.setdefault(cells[cols["userId"]], []).append(
                (path, number(cells[cols["aestheticScore"]], ratings_file, line))
            )
    unknown = len(set(ratings) - set(order))
    if unknown:
        log.warning("%s: ratings of %d user(s) missing from PARA-UserInfo.csv are left out", spec, unknown)
    people, missing = _people(spec, ratings, traits, order, strict=False)
    kept = [p.user for p in people]
    count = PARA_TEST_USERS if len(kept) >= 400 else max(1, round(len(kept) / 10))
    rule = f"the last {count} users in PARA-UserInfo.csv order"
    return RatingsSource(spec, people, kept[-count:], rule, missing)


@RATINGS_FORMATS.register("flickr-aes")
def read_flickr_aes(root: Path, options: dict[str, str]) -> RatingsSource:
    spec = f"flickr-aes:{root}"
    table = root / "FLICKR-AES_image_labeled_by_each_worker.csv"
    if not table.is_file():
        raise DataError(f"{spec}: {table.name} not found")
    image_dir = (
        root / options["images"]
        if "images" in options
        else next((root / d for d in ("40K", "images") if (root / d).is_dir()), root)
    )
    ratings: dict[str, list[tuple[str, float]]] = {}
    with open_table(table) as (header, rows):
        cols = require_columns(header, ("worker", "imagePair", "score"), table)
        for line, cells in rows:
            ratings.setdefault(cells[cols["worker"]], []).append(
                (str(image_dir / cells[cols["imagePair"]]), number(cells[cols["score"]], table, line))
            )
    people, missing = _people(spec, ratings, {}, list(ratings), strict=False)
    kept = [p.user for p in people]
    known = [w for w in FLICKR_AES_TEST_WORKERS if w in set(kept)]
    if known:
        rule = f"the {len(known)} FLICKR-AES test workers of the MTCL code found in the file"
        return RatingsSource(spec, people, known, rule, missing)
    return RatingsSource(
        spec,
        people,
        last_tenth(kept),
        "the last tenth of workers in file order (none of the 37 MTCL test workers is in this file)",
        missing,
    )


def read_users_table(path: Path) -> dict[str, np.ndarray]:
    """``user,O,C,E,A,N`` (any trait column order; [-1, 1] or BFI-10 sums) -> traits in [-1, 1]."""
    header, rows = read_table(path)
    user_col, cols = column(header, ("user", "userId"), path), trait_columns(header)
    if cols is None:
        raise DataError(f"{path}: expected columns user,O,C,E,A,N (header: {', '.join(header)})")
    raw = [[number(cells[i], path, line) for i in cols] for line, cells in rows]
    return dict(zip((cells[user_col] for _, cells in rows), normalise_traits(raw))) if raw else {}


@RATINGS_FORMATS.register("csv")
def read_csv(path: Path, options: dict[str, str]) -> RatingsSource:
    spec = f"csv:{path}"
    ratings: dict[str, list[tuple[str, float]]] = {}
    with open_table(path) as (header, rows):
        cols = require_columns(header, ("user", "path", "score"), path)
        for line, cells in rows:
            ratings.setdefault(cells[cols["user"]], []).append(
                (
                    str(resolve_image(path.parent, cells[cols["path"]])),
                    number(cells[cols["score"]], path, line),
                )
            )
    traits: dict[str, np.ndarray] = {}
    if "users" in options:
        users_file = resolve_image(path.parent, options["users"])
        if not users_file.is_file():
            raise DataError(f"{spec}: users table {users_file} not found")
        traits = read_users_table(users_file)
        unknown = sorted(set(ratings) - set(traits))
        if unknown:
            raise DataError(f"{spec}: user {unknown[0]!r} has ratings but no row in {users_file}")
    people, _ = _people(spec, ratings, traits, list(ratings), strict=True)
    users = [p.user for p in people]
    return RatingsSource(spec, people, last_tenth(users), "the last tenth of users in order of appearance")


def parse_ratings_spec(spec: str) -> tuple[str, Path, dict[str, str]]:
    """``FORMAT:PATH[,key=value...]`` -> (format, path, options)."""
    name, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise DataError(
            f"ratings argument {spec!r} is not FORMAT:PATH; formats: {', '.join(RATINGS_FORMATS.names())}"
        )
    parts = rest.split(",")
    options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    bad = [p for p in parts[1:] if "=" not in p]
    if bad:
        raise DataError(f"ratings argument {spec!r}: options are key=value, got {bad[0]!r}")
    return name, Path(parts[0]).expanduser(), options


def load_ratings(spec: str) -> RatingsSource:
    """Read a ratings source; an unknown format, a missing path or an empty source is a one-line error."""
    name, path, options = parse_ratings_spec(spec)
    reader = RATINGS_FORMATS.get(name, DataError)
    if not path.exists():
        raise DataError(f"{spec}: {path} does not exist")
    source = reader(path, options)
    if not source.people:
        raise DataError(f"{spec}: no ratings of existing images found")
    return source


def read_person_ratings(path: Path) -> tuple[list[str], np.ndarray]:
    """One person's ``path,score`` file (paths relative to it); every image must exist."""
    if not path.is_file():
        raise DataError(f"{path}: ratings file not found")
    with open_table(path) as (header, rows):
        cols = require_columns(header, ("path", "score"), path)
        pairs = [
            (str(resolve_image(path.parent, cells[cols["path"]])), number(cells[cols["score"]], path, line))
            for line, cells in rows
        ]
    missing = [p for p, _ in pairs if not Path(p).is_file()]
    if missing:
        raise DataError(f"{path}: {len(missing)} rated image(s) do not exist, e.g. {missing[0]}")
    return [p for p, _ in pairs], np.asarray([s for _, s in pairs], dtype=np.float64)


def select_test_users(source: RatingsSource, test_users: Optional[str]) -> tuple[list[str], str]:
    """Test users and how they were chosen: the format's default, the last N (a count) or a list file.

    A list file has one user per line (``#`` comments allowed); a first line naming no user is taken
    for a header (MTCL's list starts with ``ID``).
    """
    users = [p.user for p in source.people]
    if test_users is None:
        return source.default_test, source.default_test_rule
    if test_users.strip().isdigit():
        count = int(test_users)
        if not 0 < count < len(users):
            raise DataError(
                f"--test-users {count}: choose 1..{len(users) - 1} (the source has {len(users)} users)"
            )
        return users[-count:], f"the last {count} users in the source's order"
    path = Path(test_users).expanduser()
    if not path.is_file():
        raise DataError(f"--test-users {test_users}: neither a count nor an existing list file")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    names = [ln.split(",")[0].strip() for ln in lines if ln and not ln.startswith("#")]
    known = set(users)
    if names and names[0] not in known:
        names = names[1:]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise DataError(
            f"{path}: "
            + (f"user {unknown[0]!r} has no ratings in {source.spec}" if unknown else "no users listed")
        )
    if len(set(names)) == len(users):
        raise DataError(f"{path}: lists every user; leave some to calibrate on")
    return list(dict.fromkeys(names)), f"the {len(set(names))} users listed in {path}"
