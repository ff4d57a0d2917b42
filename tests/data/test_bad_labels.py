"""Label files as an unlucky user has them: a BOM, NaN cells, negative votes, stray cells, other encodings."""
from __future__ import annotations

import pytest

from persona_iaa.cli import main
from persona_iaa.data.registry import load_source
from persona_iaa.errors import DataError

from .miniatures import (
    photos,
    save_photo,
    write_aadb,
    write_ava,
    write_csv,
    write_flickr_aes,
    write_pa_iaa_personality,
    write_para,
    write_psychoflickr,
)

BOM = b"\xef\xbb\xbf"
AADB_LABELS = "imgListFiles_label/imgListFiles_label"


def add_bom(path) -> None:
    path.write_bytes(BOM + path.read_bytes())


def as_compared(source) -> tuple:
    return [(r.path, r.target, r.split, r.meta) for r in source.records], source.skipped


# (format, writer, task, label file relative to the root whose first entry must still be read)
BOM_CASES = [
    ("ava", write_ava, "aesthetic", "AVA.txt"),
    ("ava", write_ava, "aesthetic", "aesthetics_image_lists/generic_test.jpgl"),
    ("aadb", write_aadb, "aesthetic", f"{AADB_LABELS}/imgListValidationRegression_score.txt"),
    ("aadb", write_aadb, "aesthetic", f"{AADB_LABELS}/imgListValidationRegression_Light.txt"),
    ("flickr-aes", write_flickr_aes, "aesthetic", "FLICKR-AES_image_score.txt"),
    ("flickr-aes", write_flickr_aes, "aesthetic", "FLICKR-AES_image_labeled_by_each_worker.csv"),
    ("para", write_para, "personality", "annotation/PARA-UserInfo.csv"),
    ("para", write_para, "aesthetic", "annotation/PARA-GiaaTrain.csv"),
    ("psychoflickr", write_psychoflickr, "personality", "traits.csv"),
    ("psychoflickr", write_pa_iaa_personality, "personality", "Personality.csv"),
]


@pytest.mark.parametrize("fmt, writer, task, label_file", BOM_CASES,
                         ids=[c[3].rsplit("/", 1)[-1] for c in BOM_CASES])
def test_a_byte_order_mark_changes_nothing(tmp_path, fmt, writer, task, label_file):
    writer(tmp_path)
    if label_file.endswith(".jpgl"):  # its first id is missing on disk: put one that is present first
        ids = (tmp_path / label_file).read_text().split()
        (tmp_path / label_file).write_text("\n".join(ids[1:] + ids[:1]) + "\n")
    plain = as_compared(load_source(f"{fmt}:{tmp_path}", task))
    add_bom(tmp_path / label_file)
    assert as_compared(load_source(f"{fmt}:{tmp_path}", task)) == plain


def test_a_byte_order_mark_in_a_csv_file(tmp_path):
    save_photo(tmp_path / "a.jpg")
    (tmp_path / "labels.csv").write_bytes(BOM + b"path,score\na.jpg,0.25\n")
    assert [r.target for r in load_source(f"csv:{tmp_path / 'labels.csv'}", "aesthetic").records] == [(0.25,)]


def test_negative_vote_counts_are_skipped_not_averaged(tmp_path):
    ava = write_ava(tmp_path)
    lines = (tmp_path / "AVA.txt").read_text().splitlines()
    cells = lines[0].split()
    cells[4] = str(-int(cells[4]) - 1)  # the first row's count of score 3, made negative
    (tmp_path / "AVA.txt").write_text("\n".join([" ".join(cells), *lines[1:]]) + "\n")
    source = load_source(f"ava:{tmp_path}", "aesthetic")
    assert ava["ids"][0] not in {r.path.rsplit("/", 1)[1][:-4] for r in source.records}
    assert source.skip_summary()["negative vote count"]["examples"][0].endswith(f"{ava['ids'][0]}.jpg")


def test_negative_votes_in_the_csv_variant_too(tmp_path):
    save_photo(tmp_path / "images" / "7.jpg")
    save_photo(tmp_path / "images" / "8.jpg")
    header = "path,score," + ",".join(f"score {k}" for k in range(1, 11))
    (tmp_path / "AVA.csv").write_text(f"{header}\n7,5,0,0,0,0,9,0,0,0,0,-3\n8,5,0,0,0,0,9,0,0,0,0,3\n")
    source = load_source(f"ava:{tmp_path}", "aesthetic")
    assert [r.path.rsplit("/", 1)[1] for r in source.records] == ["8.jpg"]
    assert source.skip_summary()["negative vote count"]["count"] == 1


def test_fractional_vote_counts_are_skipped(tmp_path):
    for name in ("7", "8"):
        save_photo(tmp_path / "images" / f"{name}.jpg")
    header = "path,score," + ",".join(f"score {k}" for k in range(1, 11))
    (tmp_path / "AVA.csv").write_text(f"{header}\n7,5,0,0,0,0,9,0,0,0,0,2.5\n8,5,0,0,0,0,9,0,0,0,0,3\n")
    source = load_source(f"ava:{tmp_path}", "aesthetic")
    assert [r.path.rsplit("/", 1)[1] for r in source.records] == ["8.jpg"]
    assert source.skip_summary()["fractional vote count"]["count"] == 1


def test_nan_and_infinite_personality_labels_are_skipped_and_counted(tmp_path):
    names = photos(tmp_path, 4)
    write_csv(tmp_path / "p.csv", ["path", *"OCEAN"],
              [[names[0], "nan", 0, 0, 0, 0], [names[1], 0, "inf", 0, 0, 0], [names[2], 0.5, 0, 0, 0, 0],
               [names[3], 0, 0, 0, -0.5, 0]])
    source = load_source(f"csv:{tmp_path / 'p.csv'}", "personality")
    assert [r.path.rsplit("/", 1)[1] for r in source.records] == names[2:]
    assert source.skip_summary()["label is NaN or infinite"]["count"] == 2


def test_a_personality_column_with_no_value_is_an_error(tmp_path):
    names = photos(tmp_path, 3)
    write_csv(tmp_path / "p.csv", ["path", *"OCEAN"], [[n, 0.1, 0.2, 0.3, 0.4, "nan"] for n in names])
    with pytest.raises(DataError, match=r"\bN\b.*NaN or infinite in every row"):
        load_source(f"csv:{tmp_path / 'p.csv'}", "personality")


def test_nan_traits_in_the_other_personality_layouts(tmp_path):
    world = write_pa_iaa_personality(tmp_path / "pa")
    table = tmp_path / "pa" / "Personality.csv"
    lines = table.read_text().splitlines()
    lines[1] = lines[1].rsplit(" ", 1)[0] + " nan"
    table.write_text("\n".join(lines) + "\n")
    source = load_source(f"psychoflickr:{tmp_path / 'pa'}", "personality")
    assert len(source.records) == len(world["rows"]) - 2  # the NaN row and the image missing on disk
    assert source.skip_summary()["label is NaN or infinite"]["count"] == 1

    write_psychoflickr(tmp_path / "pf")
    traits = tmp_path / "pf" / "traits.csv"
    rows = traits.read_text().splitlines()
    rows[1] = "inf," + rows[1].split(",", 1)[1]  # the first user's Neuroticism
    traits.write_text("\n".join(rows) + "\n")
    source = load_source(f"psychoflickr:{tmp_path / 'pf'}", "personality")
    assert "user000" not in {r.meta["user"] for r in source.records}


def test_nan_rater_traits_in_para(tmp_path):
    write_para(tmp_path)
    info = tmp_path / "annotation" / "PARA-UserInfo.csv"
    lines = info.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",nan"
    info.write_text("\n".join(lines) + "\n")
    source = load_source(f"para:{tmp_path}", "personality")
    assert all(all(abs(v) <= 1 for v in r.target) for r in source.records)
    assert source.skip_summary()["rater with NaN or infinite traits in PARA-UserInfo.csv"]["count"] == 1
    info.write_text("\n".join(lines[:1] + [line.rsplit(",", 1)[0] + ",nan" for line in lines[1:]]) + "\n")
    with pytest.raises(DataError, match="personality-C.*NaN or infinite in every row"):
        load_source(f"para:{tmp_path}", "personality")


def test_nan_scores_are_skipped_and_a_range_error_shows_the_offending_value(tmp_path):
    names = photos(tmp_path, 3)
    write_csv(tmp_path / "a.csv", ["path", "score"], [[names[0], 0.5], [names[1], "nan"], [names[2], 0.25]])
    source = load_source(f"csv:{tmp_path / 'a.csv'}", "aesthetic")
    assert [r.target for r in source.records] == [(0.5,), (0.25,)]
    assert source.skip_summary()["label is NaN or infinite"]["count"] == 1
    write_csv(tmp_path / "b.csv", ["path", "score"], [[names[0], 0.5], [names[1], "nan"], [names[2], 7.5]])
    with pytest.raises(DataError, match=r"0\.5\.\.7\.5"):
        load_source(f"csv:{tmp_path / 'b.csv'}", "aesthetic")


def test_nan_scores_in_the_distributed_layouts(tmp_path):
    write_flickr_aes(tmp_path / "flickr")
    score_file = tmp_path / "flickr" / "FLICKR-AES_image_score.txt"
    lines = score_file.read_text().splitlines()
    score_file.write_text("\n".join([lines[0].rsplit(" ", 1)[0] + " nan", *lines[1:]]) + "\n")
    assert load_source(f"flickr-aes:{tmp_path / 'flickr'}", "aesthetic").skip_summary()[
        "label is NaN or infinite"]["count"] == 1
    aadb = write_aadb(tmp_path / "aadb")
    score_file = aadb["labels"] / "imgListValidationRegression_score.txt"
    lines = score_file.read_text().splitlines()
    score_file.write_text("\n".join([lines[0].rsplit(" ", 1)[0] + " nan", *lines[1:]]) + "\n")
    assert load_source(f"aadb:{tmp_path / 'aadb'}", "aesthetic").skip_summary()[
        "label is NaN or infinite"]["count"] == 1


def one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_csv_row_with_extra_cells_is_one_line(tmp_path, capsys):
    names = photos(tmp_path, 2)
    (tmp_path / "a.csv").write_text(f"path,score\n{names[0]},0.5\n{names[1]},0.5,0.7\n")
    err = one_line_error(["datasets", "inspect", f"csv:{tmp_path / 'a.csv'}"], capsys)
    assert "a.csv:3" in err and "3 cells" in err


def test_non_utf8_label_files_are_one_line(tmp_path, capsys):
    photos(tmp_path, 1)
    (tmp_path / "a.csv").write_bytes("path,score\n0.jpg,0.5\nb\xe9b\xe9.jpg,0.5\n".encode("latin-1"))
    assert "not UTF-8" in one_line_error(["datasets", "inspect", f"csv:{tmp_path / 'a.csv'}"], capsys)
    aadb = write_aadb(tmp_path / "aadb")
    score_file = aadb["labels"] / "imgListTrainRegression_score.txt"
    score_file.write_bytes(score_file.read_bytes() + "caf\xe9.jpg 0.5\n".encode("latin-1"))
    assert "not UTF-8" in one_line_error(["datasets", "inspect", f"aadb:{tmp_path / 'aadb'}"], capsys)


def test_inspect_reports_a_personality_csvs_own_problem(tmp_path, capsys):
    names = photos(tmp_path, 3)
    write_csv(tmp_path / "p.csv", ["path", *"OCEAN"], [[n, 0, 1, 2, 3, 42] for n in names])
    err = one_line_error(["datasets", "inspect", f"csv:{tmp_path / 'p.csv'}"], capsys)
    assert "42" in err and "missing column" not in err
