"""Sampling across ranks: every global batch is the one of a single process; positions resume exactly."""
from __future__ import annotations

from itertools import islice

import numpy as np
import torch
from PIL import Image

from persona_iaa.data.loading import EpochSampler, RecordDataset, StreamSampler
from persona_iaa.data.records import Record
from persona_iaa.data.transforms import Preprocessing, train_transform
from persona_iaa.training.distributed import unshard


def global_batches(per_rank: list[list], batch: int) -> list[list]:
    """The k-th batch of every rank, joined."""
    n = max(len(r) for r in per_rank)
    return [sorted(x for r in per_rank for x in r[k:k + batch]) for k in range(0, n, batch)]


def test_ranks_share_each_global_batch_of_the_single_process_order():
    single = EpochSampler(40, seed=7)
    single.start_at(epoch=3, samples_done=0)
    ranks = [EpochSampler(40, seed=7, rank=r, world_size=4) for r in range(4)]
    for sampler in ranks:
        sampler.start_at(epoch=3, samples_done=0)
    order = list(single)
    assert sorted(i for i, _ in order) == list(range(40))
    per_rank = [list(s) for s in ranks]
    assert global_batches(per_rank, 2) == [sorted(order[k:k + 8]) for k in range(0, 40, 8)]
    # a sample gets the same augmentation seed wherever it is read
    seeds = dict(order)
    assert all(seeds[i] == s for part in per_rank for i, s in part)
    # and another epoch another order and other seeds
    single.start_at(epoch=4, samples_done=0)
    other = list(single)
    assert [i for i, _ in other] != [i for i, _ in order] and dict(other)[0] != seeds[0]


def test_epoch_sampler_starts_part_way_for_resume():
    sampler = EpochSampler(30, seed=1, rank=1, world_size=2)
    sampler.start_at(epoch=2, samples_done=0)
    full = list(sampler)
    sampler.start_at(epoch=2, samples_done=6)
    assert list(sampler) == full[6:] and len(sampler) == len(full) - 6


def test_personality_stream_is_one_global_stream_for_any_number_of_ranks():
    single = [i for i, _ in islice(StreamSampler(7, seed=3), 35)]
    for p in range(5):  # every pass is a fresh permutation
        assert sorted(single[7 * p:7 * p + 7]) == list(range(7))
    assert single[:7] != single[7:14]
    ranks = [[i for i, _ in islice(StreamSampler(7, seed=3, rank=r, world_size=3, start=6), 8)]
             for r in range(3)]
    assert [ranks[k % 3][k // 3] for k in range(24)] == single[6:30]


def test_unshard_restores_the_evaluation_order():
    whole = np.arange(11 * 5).reshape(11, 5)
    assert np.array_equal(unshard([whole[r::3] for r in range(3)]), whole)


def test_augmentation_depends_on_the_seed_only(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    dataset = RecordDataset([Record(str(path), (0.5,))], train_transform(Preprocessing(40, 24)))
    torch.manual_seed(1)
    first, _, _ = dataset[(0, 123)]
    torch.manual_seed(2)
    again, _, _ = dataset[(0, 123)]
    other, _, _ = dataset[(0, 124)]
    assert torch.equal(first, again) and not torch.equal(first, other)
    state = torch.get_rng_state()
    dataset[(0, 5)]
    assert torch.equal(state, torch.get_rng_state())  # the caller's random stream is untouched
