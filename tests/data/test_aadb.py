"""aadb: nested label folders, the 11 attributes, train/test overlap, score-prefixed test names,
AADBinfo.mat."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from persona_iaa.data.aadb import plain_name
from persona_iaa.data.registry import load_source
from persona_iaa.errors import DataError

from .miniatures import AADB_ATTRIBUTES, save_photo, write_aadb


def names_by_split(source) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for record in source.records:
        found.setdefault(record.split, set()).add(plain_name(record.path.rsplit("/", 1)[1]))
    return found


def test_default_split_drops_overlap_and_resolves_prefixed_test_names(tmp_path):
    aadb = write_aadb(tmp_path)
    source = load_source(f"aadb:{tmp_path}", "aesthetic")
    parts = aadb["parts"]
    splits = names_by_split(source)
    assert splits["test"] == set(parts["TestNew"])
    train = set(parts["Train"]) | set(parts["Validation"])
    assert splits["train"] == train - set(parts["TestNew"]) - {aadb["missing"]}
    assert all("AADB_newtest/" in r.path and r.path.rsplit("/", 1)[1][:6].count(".") == 1
               for r in source.records if r.split == "test")
    reasons = source.skip_summary()
    assert reasons["train image also in the test list (dropped from train)"]["count"] == 2
    assert reasons["image file missing"]["examples"] == [aadb["missing"]]
    assert source.info["test_list"] == "TestNew"
    for record in source.records:
        assert record.target[0] == pytest.approx(aadb["scores"][plain_name(record.path.rsplit("/", 1)[1])])


def test_eleven_attributes_with_the_release_spelling(tmp_path):
    aadb = write_aadb(tmp_path)
    source = load_source(f"aadb:{tmp_path}", "aesthetic")
    # The miniature writes the release's 48 file names itself (misspelt BalacingElements included):
    # every one of its eleven attribute lists must be read, under the release's name.
    assert sorted(source.info["attributes"]) == sorted(AADB_ATTRIBUTES)
    for record in source.records:
        name = plain_name(record.path.rsplit("/", 1)[1])
        assert record.meta["attributes"] == pytest.approx(aadb["attributes"][name])


def test_corrected_spelling_and_flat_folder_are_read_too(tmp_path):
    aadb = write_aadb(tmp_path, nested=False)
    for path in aadb["labels"].glob("*BalacingElements.txt"):
        path.rename(path.with_name(path.name.replace("Balacing", "Balancing")))
    record = load_source(f"aadb:{tmp_path}", "aesthetic").records[0]
    assert "BalacingElements" in record.meta["attributes"]


def test_old_test_list_on_request(tmp_path):
    aadb = write_aadb(tmp_path)
    source = load_source(f"aadb:{tmp_path}", "aesthetic", {"test_list": "Test"})
    splits = names_by_split(source)
    assert splits["test"] == set(aadb["parts"]["Test"])
    assert set(aadb["parts"]["TestNew"][:2]) <= splits["train"]  # no longer an overlap with this test list
    with pytest.raises(DataError, match="imgListNopeRegression_score.txt not found"):
        load_source(f"aadb:{tmp_path}", "aesthetic", {"test_list": "Nope"})


def test_released_validation_list_on_request(tmp_path, demo_data):
    from persona_iaa.data.records import AESTHETIC
    from persona_iaa.data.registry import load_task_data

    aadb = write_aadb(tmp_path)
    source = load_source(f"aadb:{tmp_path}", "aesthetic", {"val_list": "Validation"})
    splits = names_by_split(source)
    validation = set(aadb["parts"]["Validation"]) - set(aadb["parts"]["TestNew"]) - {aadb["missing"]}
    assert splits["val"] == validation and not splits["val"] & splits["train"]
    assert splits["train"] == set(aadb["parts"]["Train"]) - set(aadb["parts"]["TestNew"]) - {aadb["missing"]}
    assert source.info["val_list"] == "Validation"
    # the released list is the validation split whatever data.val_fraction says: nothing is carved
    data = load_task_data(demo_data["aesthetic"], AESTHETIC, {"val_list": "Validation"}, val_fraction=0.5)
    default = load_task_data(demo_data["aesthetic"], AESTHETIC, val_fraction=0.5)
    assert data.sizes()["val"] == 8 and default.sizes()["val"] != 8  # SMALL_WORLD's Validation list: 8
    with pytest.raises(DataError, match="imgListNopeRegression_score.txt not found"):
        load_source(f"aadb:{tmp_path}", "aesthetic", {"val_list": "Nope"})


def cells(names: list[str]) -> np.ndarray:
    """A 1 x n MATLAB cell array of strings, as AADBinfo.mat stores its name lists."""
    return np.array([[np.array([n]) for n in names]], dtype=object)


def test_official_aadbinfo_mat_as_label_source(tmp_path):
    train = [f"farm1_{i}_1900000{i}_abc_b.jpg" for i in range(6)]
    test = [f"farm2_{i}_2000000{i}_def_b.jpg" for i in range(3)]
    savemat(tmp_path / "AADBinfo.mat", {
        "trainNameList": cells(train), "trainScore": np.linspace(0, 1, 6)[None],
        "testNameList": cells(test), "testScore": np.array([[0.05, 0.5, 1.0]])})
    for i, name in enumerate(train[1:] + test):
        save_photo(tmp_path / "datasetImages_warp256" / name, seed=i)
    source = load_source(f"aadb:{tmp_path}", "aesthetic")
    assert source.info["labels"] == "mat"
    assert names_by_split(source) == {"train": set(train[1:]), "test": set(test)}
    assert sorted(r.target[0] for r in source.records if r.split == "test") == [0.05, 0.5, 1.0]
    assert source.skip_summary()["image file missing"]["examples"] == [train[0]]


def test_scores_outside_unit_range_and_broken_lines_are_clear_errors(tmp_path):
    aadb = write_aadb(tmp_path)
    score_file = aadb["labels"] / "imgListTrainRegression_score.txt"
    lines = score_file.read_text().splitlines()
    score_file.write_text("\n".join([lines[0].rsplit(" ", 1)[0] + " 3.5", *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"outside the scale 0\.\.1 \(first: farm1_\S+ with 3\.5\)"):
        load_source(f"aadb:{tmp_path}", "aesthetic")
    score_file.write_text("\n".join(["lonely_name", *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"imgListTrainRegression_score.txt:1: expected"):
        load_source(f"aadb:{tmp_path}", "aesthetic")
