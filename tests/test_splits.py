"""The one split policy shared by every format."""
from __future__ import annotations

import pytest

from persona_iaa.data.records import Record
from persona_iaa.data.registry import split_records
from persona_iaa.errors import DataError


def records(n, split=None, user=None):
    return [Record(f"{split}-{user}-{i}.jpg", (0.5,), split, {"user": user} if user else None)
            for i in range(n)]


def test_distribution_split_is_kept_and_validation_carved_from_train():
    splits = split_records(records(80, "train") + records(20, "test"), val_fraction=0.25, seed=1)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [60, 20, 20]
    assert all(r.split == "train" for r in splits["val"])


def test_validation_size_can_be_a_count():
    splits = split_records(records(50, "train") + records(5, "test"), val_fraction=10)
    assert len(splits["val"]) == 10 and len(splits["train"]) == 40


def test_no_split_carves_test_and_validation_deterministically():
    a = split_records(records(100), val_fraction=0.1, test_fraction=0.2, seed=3)
    b = split_records(records(100), val_fraction=0.1, test_fraction=0.2, seed=3)
    c = split_records(records(100), val_fraction=0.1, test_fraction=0.2, seed=4)
    assert [len(a[s]) for s in ("train", "val", "test")] == [72, 8, 20]
    assert a == b and a["test"] != c["test"]
    every = [r.path for part in a.values() for r in part]
    assert sorted(every) == sorted(r.path for r in records(100)) and len(set(every)) == 100


def test_one_users_images_never_straddle_splits():
    data = [r for user in range(30) for r in records(10, user=f"u{user}")]
    splits = split_records(data, val_fraction=0.1, test_fraction=0.2, seed=0)
    users = {s: {r.meta["user"] for r in part} for s, part in splits.items()}
    assert not users["train"] & users["test"] and not users["train"] & users["val"]
    assert not users["val"] & users["test"]
    assert len(users["test"]) == 6 and len(users["val"]) == 3


def test_validation_larger_than_train_is_a_clear_error():
    with pytest.raises(DataError, match="lower data.val_fraction"):
        split_records(records(10, "train") + records(2, "test"), val_fraction=2000)


def test_unknown_split_name():
    with pytest.raises(DataError, match="unknown split 'dev'"):
        split_records(records(3, "dev"))


def test_a_training_subset_is_seeded_and_leaves_validation_and_test_whole(demo_data):
    from persona_iaa.data.records import AESTHETIC
    from persona_iaa.data.registry import load_task_data
    from persona_iaa.errors import DataError

    data = load_task_data(demo_data["aesthetic"], AESTHETIC)
    small = data.with_train_subset(10, seed=1)
    assert len(small.splits["train"]) == 10 and set(small.splits["train"]) <= set(data.splits["train"])
    assert small.splits["val"] == data.splits["val"] and small.splits["test"] == data.splits["test"]
    assert small.splits["train"] == data.with_train_subset(10, seed=1).splits["train"]
    assert small.splits["train"] != data.with_train_subset(10, seed=2).splits["train"]
    with pytest.raises(DataError, match="training split has"):
        data.with_train_subset(len(data.splits["train"]) + 1, seed=0)


def test_the_training_subset_setting_reaches_the_trainer(demo_data, tmp_path):
    from persona_iaa.training.protocol import load_run_data
    from tests.helpers import tiny_config

    aesthetic, _ = load_run_data(tiny_config(tmp_path, demo_data, "data.aesthetic_train_size=12"))
    assert aesthetic.sizes()["train"] == 12
