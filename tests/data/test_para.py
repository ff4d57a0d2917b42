"""para: GIAA aesthetic labels with the official split; liked-image traits as a personality source."""
from __future__ import annotations

import numpy as np
import pytest

from persona_iaa.data.registry import load_source
from persona_iaa.errors import DataError

from .miniatures import write_para


def key_of(path: str) -> tuple[str, str]:
    session, name = path.rsplit("/", 2)[-2:]
    return session, name


def test_aesthetic_mean_score_with_the_giaa_split(tmp_path):
    para = write_para(tmp_path)
    source = load_source(f"para:{tmp_path}", "aesthetic")
    by_key = {key_of(r.path): r for r in source.records}
    assert set(by_key) == set(para["images"]) - {para["missing"]}
    for key, record in by_key.items():
        mean = np.mean([s for _, s in para["ratings"][key]])
        assert record.target[0] == pytest.approx((mean - 1) / 4)
        assert record.split == ("train" if key in para["giaa"]["train"] else "test")
        assert record.path == str(tmp_path / "imgs" / key[0] / key[1])
    assert source.skip_summary()["image file missing"]["count"] == 1


def test_aesthetic_from_per_user_ratings_without_giaa_tables(tmp_path):
    para = write_para(tmp_path, giaa=False)
    source = load_source(f"para:{tmp_path}", "aesthetic")
    record = source.records[0]
    scores = [s for _, s in para["ratings"][key_of(record.path)]]
    assert record.target[0] == pytest.approx((np.mean(scores) - 1) / 4)
    assert record.meta["std"] == pytest.approx(np.std(scores))
    assert all(r.split is None for r in source.records)


@pytest.mark.parametrize("threshold", [4.0, 3.0])
def test_personality_is_the_mean_trait_of_the_users_who_liked_the_image(tmp_path, threshold):
    para = write_para(tmp_path)
    source = load_source(f"para:{tmp_path}", "personality", {"liked_threshold": threshold})
    for record in source.records:
        likers = [u for u, s in para["ratings"][key_of(record.path)] if s >= threshold and u in para["users"]]
        e, a, n, o, c = np.mean([para["users"][u] for u in likers], axis=0)
        assert record.target == pytest.approx([(v - 6) / 4 for v in (o, c, e, a, n)])
        assert record.meta["likers"] == len(likers)
    reasons = source.skip_summary()
    assert reasons["no rater at or above liked_threshold"]["examples"][0].endswith("iaa_pub2_.jpg")
    assert reasons["rater missing from PARA-UserInfo.csv"]["examples"] == ["Aunknown"]
    assert {r.split for r in source.records} == {"train", "test"}


def test_personality_needs_the_per_user_files(tmp_path):
    write_para(tmp_path)
    (tmp_path / "annotation" / "PARA-Images.csv").unlink()
    with pytest.raises(DataError, match="personality labels need PARA-UserInfo.csv and PARA-Images.csv"):
        load_source(f"para:{tmp_path}", "personality")
    with pytest.raises(DataError, match="liked_threshold must lie in 1..5"):
        write_para(tmp_path / "again")
        load_source(f"para:{tmp_path / 'again'}", "personality", {"liked_threshold": 7})
