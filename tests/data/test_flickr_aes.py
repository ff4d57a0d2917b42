"""flickr-aes: the image score file and the per-worker CSV with spaces after its commas."""
from __future__ import annotations

import pytest

from persona_iaa.data.registry import load_source
from persona_iaa.errors import DataError

from .miniatures import write_flickr_aes


def test_scores_and_worker_ratings(tmp_path):
    world = write_flickr_aes(tmp_path)
    source = load_source(f"flickr-aes:{tmp_path}", "aesthetic")
    by_name = {r.path.rsplit("/", 1)[1]: r for r in source.records}
    assert set(by_name) == set(world["names"]) - {world["missing"]}
    for name, record in by_name.items():
        assert record.target[0] == pytest.approx((world["scores"][name] - 1) / 4, abs=1e-4)
        assert record.meta["ratings"] == tuple((w, float(s)) for w, s in world["ratings"][name])
        assert record.path == str(tmp_path / "40K" / name)
    assert source.info["workers"] == 3
    assert source.skip_summary()["image file missing"]["count"] == 1


def test_worker_means_stand_in_for_a_missing_score_file(tmp_path):
    world = write_flickr_aes(tmp_path)
    (tmp_path / "FLICKR-AES_image_score.txt").unlink()
    record = load_source(f"flickr-aes:{tmp_path}", "aesthetic").records[0]
    assert record.target[0] == pytest.approx((world["scores"][record.path.rsplit("/", 1)[1]] - 1) / 4)


def test_scores_off_the_declared_range_are_an_error(tmp_path):
    write_flickr_aes(tmp_path)
    with pytest.raises(DataError, match="declare the raw scale"):
        load_source(f"flickr-aes:{tmp_path}", "aesthetic", {"score_range": "2,3"})
