"""``psychoflickr:ROOT`` — PsychoFlickr (Cristani et al., MM 2013): favourite images of users with known
traits.

Two label layouts are read:

* per-user folders (``ROOT/<user>/*.jpg``, or under ``ROOT/images/``) plus a traits table with a user
  column and the five traits matched by name in any order (``user,O,C,E,A,N``, ``Openness``...); every
  image of a user takes that user's traits, as in the paper;
* PA-IAA's ``Personality.csv`` (space-separated with a header): an image path relative to ROOT, then the
  five traits; when the header does not name them, ``trait_order`` gives their order.

The trait scale is declared (``trait_scale``) or detected: already in [-1, 1], BFI-10 sums 2..10, or item
sums -4..4; any other range is an error that shows it. Users without traits, without images or with
blank traits are reported as skipped. The release has no split: the registry carves one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..constants import IMAGE_EXTENSIONS, TRAITS
from ..errors import DataError
from .options import option_hint
from .parsing import LabelRows
from .records import PERSONALITY, DatasetSource, FileIndex, locate_file, resolve_image
from .registry import register_format
from .tables import column, open_table, read_table
from .traits import trait_columns

IMAGE_TABLES = ("Personality.csv", "data/Personality.csv")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
USER_COLUMNS = ("user", "username", "user_name", "userid", "user_id", "users", "uid", "owner")


def is_user_table(header: list[str]) -> bool:
    return any(cell.lower() in USER_COLUMNS for cell in header) and trait_columns(header) is not None


def header_of(path: Path) -> list[str]:
    with open_table(path) as (header, _):
        return header


def find_traits_table(root: Path, traits: str) -> Path:
    found = locate_file(root, traits, IMAGE_TABLES, f"psychoflickr:{root}: traits table")
    if found is not None:
        return found
    tables = sorted(p for p in root.iterdir() if p.suffix.lower() in TABLE_SUFFIXES and p.is_file())
    user_tables = [p for p in tables if is_user_table(header_of(p))]
    if len(user_tables) == 1:
        return user_tables[0]
    if user_tables:
        names = ", ".join(p.name for p in user_tables)
        raise DataError(f"psychoflickr:{root}: several traits tables ({names}); "
                        f"choose one: {option_hint(PERSONALITY, 'traits', user_tables[0].name)}")
    raise DataError(f"psychoflickr:{root}: no traits table found: expected Personality.csv or a CSV with a "
                    "user column and O,C,E,A,N columns; name it: "
                    + option_hint(PERSONALITY, "traits", "FILE"))


def trait_cells(header: list[str], trait_order: str, first: int, path: Path) -> list[int]:
    """Columns of O, C, E, A, N: by header name, else ``trait_order`` over the five columns from ``first``."""
    named = trait_columns(header)
    if named is not None:
        return named
    order = trait_order.upper()
    if sorted(order) != sorted(TRAITS) or len(header) < first + 5:
        raise DataError(f"{path}: the header does not name the five traits and trait_order={trait_order!r} "
                        f"is not a permutation of OCEAN over columns {first + 1}..{first + 5}")
    return [first + order.index(t) for t in TRAITS]


def parse_trait_values(cells: list[str], columns: list[int]) -> Optional[list[float]]:
    """The five raw values, or None when one is blank or not a number."""
    try:
        return [float(cells[i]) for i in columns]
    except (ValueError, IndexError):
        return None


def user_image_root(root: Path, users: set[str], images: str) -> Path:
    if images != "auto":
        return resolve_image(root, images)
    files = FileIndex()
    for candidate in (root, root / "images", root / "Images"):
        if users & files.names(candidate):
            return candidate
    return root


def list_images(folder: Path) -> list[str]:
    return sorted(str(folder / name) for name in os.listdir(folder)
                  if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS)


Rows = list[tuple[int, list[str]]]


def read_user_folders(root: Path, table: Path, header: list[str], rows: Rows, labels: LabelRows,
                      trait_order: str, images: str) -> str:
    """Per-user folders: every image of a user labelled with that user's traits from the table."""
    user_col = column(header, USER_COLUMNS, table)
    columns = trait_cells(header, trait_order, 1, table)
    user_traits = {cells[user_col]: parse_trait_values(cells, columns) for _, cells in rows}
    image_root = user_image_root(root, set(user_traits), images)
    if not image_root.is_dir():
        raise DataError(f"psychoflickr:{root}: image folder {image_root} not found")
    folders = {e.name: Path(e.path) for e in os.scandir(image_root)
               if e.is_dir() and not e.name.startswith(".")}
    for user in sorted(set(folders) | set(user_traits)):
        values = user_traits.get(user)
        if user not in folders:
            labels.skip(user, "user in the traits table without an image folder")
        elif user not in user_traits:
            labels.skip(str(folders[user]), "user folder without traits in the table")
        elif values is None:
            labels.skip(str(folders[user]), "user with blank or non-numeric traits")
        elif not (user_images := list_images(folders[user])):
            labels.skip(str(folders[user]), "user folder without images")
        else:
            for image in user_images:
                labels.add(image, values, None, {"user": user}, exists=True)
    return "user folders"


def read_image_table(root: Path, table: Path, header: list[str], rows: Rows, labels: LabelRows,
                     trait_order: str) -> str:
    """PA-IAA's ``Personality.csv``: one image path (relative to ROOT) and its five traits per row."""
    columns = trait_cells(header, trait_order, 1, table)
    for _, cells in rows:
        image = str(resolve_image(root, cells[0]))
        values = parse_trait_values(cells, columns)
        if values is None:
            labels.skip(image, "blank or non-numeric traits")
        else:
            labels.add(image, values)
    return "image table"


@register_format("psychoflickr", tasks=("personality",),
                 help="PsychoFlickr: per-user image folders + traits table, or PA-IAA's Personality.csv")
def parse_psychoflickr(path: Path, task: str, traits: str = "auto", trait_scale: str = "auto",
                       trait_order: str = "OCEAN", images: str = "auto") -> DatasetSource:
    table = find_traits_table(path, traits)
    header, rows = read_table(table)
    labels = LabelRows(f"psychoflickr:{path}", task)
    if is_user_table(header):
        layout = read_user_folders(path, table, header, rows, labels, trait_order, images)
    else:
        layout = read_image_table(path, table, header, rows, labels, trait_order)
    source = labels.source(traits=trait_scale, info={"traits_table": str(table), "layout": layout})
    source.info["users"] = len({r.meta["user"] for r in source.records if r.meta})
    return source
