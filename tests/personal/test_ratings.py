"""Per-user ratings sources: PARA, FLICKR-AES and CSV layouts, test-user choices, missing images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from persona_iaa.data.ratings import (
    FLICKR_AES_TEST_WORKERS,
    load_ratings,
    read_person_ratings,
    select_test_users,
)
from persona_iaa.errors import DataError


def image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (90, 120, 30)).save(path)
    return path


def test_para_joins_traits_in_user_order_and_skips_missing_images(people_world):
    source = load_ratings(people_world["spec"])
    assert [p.user for p in source.people] == people_world["users"]
    first = source.people[0]
    np.testing.assert_allclose(first.traits, people_world["traits"][0])
    assert len(first.paths) == len(first.scores) == 140 and set(first.scores) <= set(np.arange(1, 5.5, 0.5))
    assert source.has_traits and source.missing_images == 0
    assert source.default_test == people_world["users"][-3:]  # fewer than 400 users: the last tenth


def test_para_reads_the_real_column_order(tmp_path):
    # PARA-UserInfo.csv lists the traits as E, A, N, O, C; the profile order is O, C, E, A, N
    (tmp_path / "PARA-UserInfo.csv").write_text(
        "userId,age,gender,EducationalLevel,artExperience,photographyExperience,personality-E,personality-A,"
        "personality-N,personality-O,personality-C\nA1,22-25,male,university,beginner,beginner,10,8,6,4,2\n"
        "A2,22-25,male,university,beginner,beginner,2,2,2,2,2\n"
    )
    image(tmp_path / "imgs" / "session1" / "a.jpg")
    (tmp_path / "PARA-Images.csv").write_text(
        "sessionId,imageName,userId,aestheticScore\nsession1,a.jpg,A1,4.5\n"
        "session1,gone.jpg,A1,2.0\nsession1,a.jpg,A2,1.0\n"
    )
    source = load_ratings(f"para:{tmp_path}")
    np.testing.assert_allclose(source.person("A1").traits, [-0.5, -1.0, 1.0, 0.5, 0.0])
    assert source.person("A1").paths == (str(tmp_path / "imgs" / "session1" / "a.jpg"),)
    assert source.missing_images == 1


def test_flickr_aes_defaults_to_the_published_test_workers(tmp_path):
    image(tmp_path / "40K" / "farm1_1_1_a.jpg")
    worker = FLICKR_AES_TEST_WORKERS[3]
    (tmp_path / "FLICKR-AES_image_labeled_by_each_worker.csv").write_text(
        f"worker, imagePair, score\nAOTHER, farm1_1_1_a.jpg, 3\n{worker}, farm1_1_1_a.jpg, 5\n"
    )
    source = load_ratings(f"flickr-aes:{tmp_path}")
    assert source.default_test == [worker] and "MTCL" in source.default_test_rule
    assert not source.has_traits and source.person(worker).scores.tolist() == [5.0]


def test_csv_with_users_table_and_test_user_choices(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        image(tmp_path / name)
    rows = "".join(
        f"u{u},{name},{score}\n" for u in range(4) for name, score in (("a.jpg", u), ("b.jpg", 9 - u))
    )
    (tmp_path / "r.csv").write_text("user,path,score\n" + rows)
    (tmp_path / "users.csv").write_text("user,O,C,E,A,N\n" + "".join(f"u{u},10,2,6,6,6\n" for u in range(4)))
    source = load_ratings(f"csv:{tmp_path / 'r.csv'},users=users.csv")
    np.testing.assert_allclose(source.person("u2").traits, [1, -1, 0, 0, 0])  # BFI-10 sums detected
    assert select_test_users(source, "2")[0] == ["u2", "u3"]
    listing = tmp_path / "test.csv"
    listing.write_text("ID\nu1\n")
    assert select_test_users(source, str(listing)) == (["u1"], f"the 1 users listed in {listing}")
    with pytest.raises(DataError, match="choose 1..3"):
        select_test_users(source, "4")


def test_csv_ratings_of_missing_images_are_an_error(tmp_path):
    image(tmp_path / "a.jpg")
    (tmp_path / "r.csv").write_text("user,path,score\nu,a.jpg,3\nu,nowhere.jpg,4\n")
    with pytest.raises(DataError, match="1 rated image.*nowhere.jpg"):
        load_ratings(f"csv:{tmp_path / 'r.csv'}")
    (tmp_path / "mine.csv").write_text("path,score\na.jpg,3\nnowhere.jpg,4\n")
    with pytest.raises(DataError, match="do not exist"):
        read_person_ratings(tmp_path / "mine.csv")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("para", "not FORMAT:PATH"),
        ("imdb:/x", "unknown ratings format"),
        ("csv:/no/such.csv", "does not exist"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(DataError, match=message):
        load_ratings(spec)
