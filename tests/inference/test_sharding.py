"""Deterministic shares of a collection (``--shard I/N`` and torchrun ranks)."""
from __future__ import annotations

import pytest

from persona_iaa.errors import ConfigError
from persona_iaa.inference.sharding import Shard, part_path


@pytest.mark.parametrize("total,count", [(0, 3), (1, 4), (10, 3), (11, 4), (100, 7)])
def test_shares_cover_every_item_once_in_order(total, count):
    items = list(range(total))
    shares = [Shard(i, count).select(items) for i in range(count)]
    assert [x for share in shares for x in share] == items
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_parse_and_refuse():
    assert Shard.parse(" 2 / 5 ") == Shard(2, 5) and str(Shard(2, 5)) == "2/5"
    for bad in ("5/5", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError, match="--shard"):
            Shard.parse(bad)


def test_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert Shard.from_torchrun() == Shard(3, 4)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    assert Shard.from_torchrun().whole


def test_part_path_keeps_the_format_suffix(tmp_path):
    assert part_path(tmp_path / "scores.parquet", Shard(1, 4)).name == "scores.part-1-of-4.parquet"


def test_rank_device_is_the_cpu_without_cuda_and_keeps_an_explicit_choice(monkeypatch):
    import torch

    from persona_iaa.inference.sharding import rank_device, under_torchrun

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_device("auto") == "cpu" and rank_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert rank_device("auto") == "cuda:1" and rank_device("cuda") == "cuda:1"
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert under_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not under_torchrun()
