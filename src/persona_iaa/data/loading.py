"""Records -> tensors: the torch Dataset over labelled records and the loaders built from it."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from .images import open_image
from .records import Record
from .transforms import Transform


class RecordDataset(Dataset):
    """Decodes a record's image with the source's opener and returns ``(image, target, index)``."""

    def __init__(self, records: Sequence[Record], transform: Transform,
                 opener: Optional[Callable[[str], Image.Image]] = None):
        self.records = list(records)
        self.transform = transform
        self.opener = opener or open_image

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        record = self.records[index]
        image = self.transform(self.opener(record.path))
        return image, torch.tensor(record.target, dtype=torch.float32), index


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool, workers: int, seed: int,
                drop_last: bool = False, sampler=None) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        drop_last=drop_last,
        generator=generator,
    )
