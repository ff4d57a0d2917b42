"""psychoflickr: per-user folders + traits table (any column order, declared or detected scale),
PA-IAA's table."""
from __future__ import annotations

import pytest

from persona_iaa.data.registry import load_source
from persona_iaa.errors import DataError

from .miniatures import write_pa_iaa_personality, write_psychoflickr


def test_every_image_of_a_user_takes_the_users_bfi10_traits(tmp_path):
    world = write_psychoflickr(tmp_path)
    source = load_source(f"psychoflickr:{tmp_path}", "personality")
    assert source.info["trait_scale"] == "bfi10" and source.info["layout"] == "user folders"
    assert len(source.records) == len(world["users"]) * world["per_user"]
    for record in source.records:
        expected = [(v - 6) / 4 for v in world["raw"][record.meta["user"]]]  # O, C, E, A, N
        assert record.target == pytest.approx(expected)
        assert record.path.startswith(str(tmp_path / record.meta["user"]))
    reasons = source.skip_summary()
    no_traits = reasons["user folder without traits in the table"]
    assert no_traits["examples"] == [str(tmp_path / "no_traits_user")]
    assert reasons["user in the traits table without an image folder"]["examples"] == ["no_folder_user"]
    assert reasons["user with blank or non-numeric traits"]["count"] == 1


@pytest.mark.parametrize("scale, to_unit", [("items", lambda v: v / 4), ("unit", lambda v: v)])
def test_other_scales_are_detected(tmp_path, scale, to_unit):
    world = write_psychoflickr(tmp_path, scale=scale)
    source = load_source(f"psychoflickr:{tmp_path}", "personality")
    record = source.records[0]
    assert record.target == pytest.approx([to_unit(v) for v in world["raw"][record.meta["user"]]])


def test_unknown_scale_is_an_error_that_shows_the_range(tmp_path):
    write_psychoflickr(tmp_path)
    table = tmp_path / "traits.csv"
    lines = table.read_text().splitlines()
    lines[1] = "42," + lines[1].split(",", 1)[1]  # the first user's Neuroticism
    table.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"span \[\S+, 42\]"):
        load_source(f"psychoflickr:{tmp_path}", "personality")
    with pytest.raises(DataError, match="outside the declared bfi10 scale"):
        load_source(f"psychoflickr:{tmp_path}", "personality", {"trait_scale": "bfi10"})


def test_user_folders_under_images_and_an_explicit_table(tmp_path):
    world = write_psychoflickr(tmp_path / "images")
    (tmp_path / "images" / "traits.csv").rename(tmp_path / "bfi.tsv")
    (tmp_path / "bfi.tsv").write_text((tmp_path / "bfi.tsv").read_text().replace(",", "\t"))
    source = load_source(f"psychoflickr:{tmp_path}", "personality", {"traits": "bfi.tsv"})
    assert {r.meta["user"] for r in source.records} == set(world["users"])


def test_pa_iaa_personality_csv(tmp_path):
    world = write_pa_iaa_personality(tmp_path)
    source = load_source(f"psychoflickr:{tmp_path}", "personality")
    assert source.info["layout"] == "image table" and source.info["trait_scale"] == "unit"
    assert {r.path: r.target for r in source.records} == {
        str(tmp_path / p): pytest.approx(v) for p, v in world["rows"].items() if p != world["missing"]}
    assert source.skip_summary()["image file missing"]["examples"] == [str(tmp_path / world["missing"])]


def test_pa_iaa_table_without_trait_names_uses_trait_order(tmp_path):
    world = write_pa_iaa_personality(tmp_path, header=["img", "t1", "t2", "t3", "t4", "t5"])
    source = load_source(f"psychoflickr:{tmp_path}", "personality", {"trait_order": "NEOAC"})
    path, raw = next(iter(world["rows"].items()))
    n, e, o, a, c = raw
    record = next(r for r in source.records if r.path == str(tmp_path / path))
    assert record.target == pytest.approx([o, c, e, a, n])
    with pytest.raises(DataError, match="not a permutation of OCEAN"):
        load_source(f"psychoflickr:{tmp_path}", "personality", {"trait_order": "OCEANX"})
