"""ava: parses AVA.txt (and the CSV mirrors) with the standard split, skipping what the release lacks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from persona_iaa.cli import main
from persona_iaa.data.registry import load_source, split_records
from persona_iaa.errors import DataError

from .miniatures import save_photo, write_ava


def test_standard_split_missing_and_corrupt_ids(tmp_path):
    ava = write_ava(tmp_path)
    source = load_source(f"ava:{tmp_path}", "aesthetic")
    by_id = {r.path.rsplit("/", 1)[1][:-4]: r for r in source.records}
    assert set(by_id) == set(ava["ids"]) - ava["missing"] - ava["corrupt"]
    assert {i for i, r in by_id.items() if r.split == "test"} == ava["test"]
    assert all(r.split == "train" for i, r in by_id.items() if i not in ava["test"])
    reasons = source.skip_summary()
    assert reasons["image file missing"]["count"] == 2
    assert reasons["known corrupt image (public list)"]["count"] == 1
    assert source.info["test_list_ids_not_in_labels"] == 1
    splits = split_records(source.records, val_fraction=5, seed=0)
    assert len(splits["val"]) == 5 and len(splits["test"]) == len(ava["test"])
    assert not {r.path for r in splits["val"]} & {r.path for r in splits["test"]}


def test_target_is_mean_vote_over_ten_and_votes_stay_available(tmp_path):
    ava = write_ava(tmp_path)
    record = load_source(f"ava:{tmp_path}", "aesthetic").records[0]
    image_id = record.path.rsplit("/", 1)[1][:-4]
    votes = np.array(ava["votes"][image_id])
    scores = np.arange(1, 11)
    mean = (votes * scores).sum() / votes.sum()
    assert record.target[0] == pytest.approx(mean / 10)
    assert record.meta["votes"] == tuple(ava["votes"][image_id])
    assert record.meta["std"] == pytest.approx(np.sqrt((votes * (scores - mean) ** 2).sum() / votes.sum()))


def test_nested_release_folder_and_explicit_options(tmp_path):
    write_ava(tmp_path, nested=True)
    source = load_source(f"ava:{tmp_path}", "aesthetic")
    assert source.info["label_file"].endswith("AVA_dataset/AVA.txt")
    assert any(r.split == "test" for r in source.records)
    unsplit = load_source(f"ava:{tmp_path}", "aesthetic", {"test_list": "none", "skip_known_corrupt": False})
    assert all(r.split is None for r in unsplit.records)
    assert len(unsplit.records) == len(source.records) + 1  # the known-corrupt id is kept on request
    with pytest.raises(DataError, match="test list 'generic_ls_test' not found"):
        load_source(f"ava:{tmp_path}", "aesthetic", {"test_list": "generic_ls_test"})
    with pytest.raises(DataError, match="has no option 'test'"):
        load_source(f"ava:{tmp_path}", "aesthetic", {"test": "x"})


def test_csv_variant_with_vote_columns_and_with_a_mean_only(tmp_path):
    ava = write_ava(tmp_path)
    header = "path,score," + ",".join(f"score {k}" for k in range(1, 11))
    lines = [header] + [f"images/{i}.jpg,5.0," + ",".join(map(str, ava["votes"][i])) for i in ava["ids"]]
    (tmp_path / "AVA.csv").write_text("\n".join(lines) + "\n")
    from_txt = {r.path: r for r in load_source(f"ava:{tmp_path}", "aesthetic").records}
    from_csv = load_source(f"ava:{tmp_path / 'AVA.csv'}", "aesthetic")
    assert {r.path: (r.target, r.split, r.meta) for r in from_csv.records} == {
        p: (r.target, r.split, r.meta) for p, r in from_txt.items()}
    (tmp_path / "means.csv").write_text("path,score\n" + "".join(f"{i}.jpg,{6.5 if n % 2 else 4.0}\n"
                                                                for n, i in enumerate(ava["ids"])))
    means = load_source(f"ava:{tmp_path}", "aesthetic", {"labels": "means.csv"})
    assert sorted({r.target[0] for r in means.records}) == [0.4, 0.65]
    assert all(r.meta is None for r in means.records)


@pytest.mark.parametrize("content, message", [
    ("1 953619 0 1 5 17 38\n", "rows have 7 columns"),
    ("1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n2 x 0 1 5 17 38 36 15 6 5 1 1 22 1396\n", "15 integers"),
])
def test_malformed_label_file_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "AVA.txt").write_text(content)
    with pytest.raises(DataError, match=message):
        load_source(f"ava:{tmp_path}", "aesthetic")


def test_inspect_reads_a_full_size_label_file(tmp_path, capsys):
    """255,530 rows with images for a handful of ids: one listing, no stat per row, no decoding."""
    rng = np.random.default_rng(0)
    n = 255_530
    ids = 1_000_000 + np.arange(1, n + 1) * 3  # clear of the known-corrupt ids
    votes = rng.integers(0, 40, size=(n, 10))
    table = np.column_stack([np.arange(1, n + 1), ids, votes, np.zeros((n, 2), int), np.full(n, 1396)])
    np.savetxt(tmp_path / "AVA.txt", table, fmt="%d")
    (tmp_path / "aesthetics_image_lists").mkdir()
    test_list = tmp_path / "aesthetics_image_lists" / "generic_test.jpgl"
    test_list.write_text("\n".join(map(str, ids[::12])) + "\n")
    present = ids[:60]
    for image_id in present:
        save_photo(tmp_path / "images" / f"{image_id}.jpg", size=(8, 8))
    assert main(["datasets", "inspect", f"ava:{tmp_path}", "--json", "--val-fraction", "10"]) == 0
    report = json.loads(capsys.readouterr().out)["tasks"]["aesthetic"]
    assert report["records"] == 60
    assert report["skipped"]["reasons"]["image file missing"]["count"] == n - 60
    assert report["splits"]["test"]["n"] == 5 and report["splits"]["val"]["n"] == 10
    assert report["splits"]["train"]["n"] == 45
