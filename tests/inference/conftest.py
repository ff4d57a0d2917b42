"""Fixtures of generated image files (see scoring_files.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .scoring_files import make_image_kinds


@pytest.fixture(scope="session")
def image_kinds(tmp_path_factory) -> dict[str, Path]:
    return make_image_kinds(tmp_path_factory.mktemp("kinds"))
