"""Records -> tensors: the torch Dataset over labelled records, its samplers and the loaders built from them.

Training samplers yield ``(index, augmentation_seed)`` keys: the dataset seeds the random transform of
each sample from that key, so augmentation depends on (seed, epoch, image) only, never on the worker,
the rank or whether the run was resumed part-way.
"""
from __future__ import annotations

import warnings
from itertools import islice
from typing import Callable, Iterator, Optional, Sequence, Union, cast

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..errors import DataError, ImageError
from ..runtime import derive_seed
from .images import read_image
from .records import Record
from .transforms import Transform

#: A dataset key: a plain index (deterministic transforms) or (index, seed) for a seeded random transform.
SampleKey = Union[int, tuple[int, int]]


class RecordDataset(Dataset):
    """Decodes a record's image with the source's opener and returns ``(image, target, index)``.

    A file that cannot be decoded (a truncated download found hours into a run) must not end the run:
    it is replaced by the next decodable record of the split, with a warning naming it. `persona-iaa
    prepare` finds and lists such files up front.
    """

    def __init__(self, records: Sequence[Record], transform: Transform,
                 opener: Optional[Callable[[str], Union[Image.Image, torch.Tensor]]] = None):
        self.records = list(records)
        self.transform = transform
        self.opener = opener or read_image

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, torch.Tensor, int]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        index, image = self._decodable(index)
        record = self.records[index]
        if seed is None:
            tensor = self.transform(image)
        else:
            # torchvision's random transforms draw from torch's CPU RNG
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                tensor = self.transform(image)
        return tensor, torch.tensor(record.target, dtype=torch.float32), index


    def _decodable(self, index: int) -> tuple[int, Union[Image.Image, torch.Tensor]]:
        for attempt in range(len(self.records)):
            candidate = (index + attempt) % len(self.records)
            try:
                return candidate, self.opener(self.records[candidate].path)
            except ImageError as exc:
                warnings.warn(f"{exc}; training on the next image of the split in its place", stacklevel=2)
        raise DataError("no image of this split can be decoded")


class EpochSampler(DistributedSampler):
    """DistributedSampler that can start part-way into an epoch and hands out augmentation seeds.

    Rank ``r`` of ``W`` reads every W-th index of the epoch's seeded permutation, so the W per-rank
    batches of step k together hold exactly the images of step k on one process with a W-times batch.
    """

    def __init__(self, size: int, *, seed: int, rank: int = 0, world_size: int = 1, stream: int = 0):
        # The sampler only needs the dataset's length: a range stands in for it.
        super().__init__(cast(Dataset, range(size)), num_replicas=world_size, rank=rank, shuffle=True,
                         seed=seed)
        self.stream = stream
        self.skip = 0

    def start_at(self, epoch: int, samples_done: int) -> None:
        """Position at ``epoch`` (1-based) after this rank has read ``samples_done`` of it."""
        self.set_epoch(epoch)
        self.skip = samples_done

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in islice(super().__iter__(), self.skip, None):
            yield index, derive_seed(self.seed, self.stream, self.epoch, index)

    def __len__(self) -> int:
        return self.num_samples - self.skip


class StreamSampler(Sampler):
    """An endless stream of seeded shuffled passes over ``size`` items (the personality domain).

    Position p of the global stream is item ``p mod size`` of pass ``p // size``'s permutation; rank r
    reads positions ``start + r, start + r + W, ...``. Each rank draws independently, with no
    communication, and the W ranks together read the same global stream as one process.
    """

    def __init__(self, size: int, *, seed: int, rank: int = 0, world_size: int = 1, start: int = 0,
                 stream: int = 1):
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.start, self.stream = start, stream

    def permutation(self, pass_index: int) -> list[int]:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, self.stream, pass_index))
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start + self.rank
        cached: tuple[int, list[int]] = (-1, [])
        while True:
            pass_index, offset = divmod(position, self.size)
            if cached[0] != pass_index:
                cached = (pass_index, self.permutation(pass_index))
            index = cached[1][offset]
            yield index, derive_seed(self.seed, self.stream, pass_index, index)
            position += self.world_size


def shard(size: int, rank: int, world_size: int) -> list[int]:
    """Rank's share of an evaluation set, no padding: indices rank, rank + W, ... (joined again by
    :func:`persona_iaa.training.distributed.unshard`)."""
    return list(range(rank, size, world_size))


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool, workers: int, seed: int,
                sampler: Optional[Union[Sampler, Sequence[int]]] = None,
                pin_memory: Optional[bool] = None) -> DataLoader:
    """A DataLoader with worker processes kept alive between epochs and pinned memory for CUDA."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=workers > 0,
        generator=generator,
    )
