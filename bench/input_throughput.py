"""Training-input throughput: images/s the training loader delivers from original JPEGs vs a prepared cache.

Generates photo-sized JPEGs in the AVA layout, prepares a cache of them, then iterates the training
loader (RecordDataset + the training transform + DataLoader workers, exactly as the Trainer builds it)
over both, in one run, and prints images/s and the ratio against the originals. A third row decodes the
originals with JPEG draft decoding (``read_image(draft_size=...)``), to show how much of the gain that
alone would bring. Timings on a shared machine are noisy: read the ratios, not the absolute figures.

    python bench/input_throughput.py [--images 96] [--width 1024 --height 768] [--workers 2]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np
from photos import photo

from persona_iaa.data.cache import prepare_cache
from persona_iaa.data.images import read_image
from persona_iaa.data.loading import RecordDataset, make_loader
from persona_iaa.data.registry import load_source
from persona_iaa.data.transforms import Preprocessing, train_transform


def write_ava_photos(root: Path, count: int, width: int, height: int) -> str:
    """Photo-like JPEGs (see photos.py) in the AVA layout; returns the dataset spec."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(count):
        photo(width, height, seed=i).save(root / "images" / f"{1000 + i}.jpg", quality=90)
        votes = rng.multinomial(100, np.full(10, 0.1))
        rows.append(" ".join(map(str, [i + 1, 1000 + i, *votes, 0, 0, 1396])))
    (root / "AVA.txt").write_text("\n".join(rows) + "\n")
    return f"ava:{root}"


def images_per_second(
    records, opener, pre: Preprocessing, batch_size: int, workers: int, passes: int
) -> float:
    """Images/s delivered as training batches; one untimed pass first starts the workers and warms caches."""
    loader = make_loader(
        RecordDataset(records, train_transform(pre), opener),
        batch_size,
        shuffle=True,
        workers=workers,
        seed=0,
    )
    for _ in loader:
        pass
    started, delivered = time.perf_counter(), 0
    for _ in range(passes):
        for images, _, _ in loader:
            delivered += len(images)
    return delivered / (time.perf_counter() - started)


def folder_megabytes(folder: Path, pattern: str) -> float:
    return sum(p.stat().st_size for p in folder.glob(pattern)) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for both loaders")
    parser.add_argument("--prepare-workers", type=int, help="prepare processes (default: every core)")
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the images per loader")
    args = parser.parse_args()
    pre = Preprocessing(args.image_size, args.crop_size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = write_ava_photos(root / "ava", args.images, args.width, args.height)
        started = time.perf_counter()
        result = prepare_cache(
            spec, root / "cache", image_size=args.image_size, workers=args.prepare_workers, progress=False
        )
        prepare_rate = result.images / (time.perf_counter() - started)
        original = load_source(spec, "aesthetic")
        cached = load_source(f"cache:{root / 'cache'}", "aesthetic")
        measure = functools.partial(
            images_per_second, pre=pre, batch_size=args.batch_size, workers=args.workers, passes=args.passes
        )
        rows = {
            "originals (full decode)": measure(original.records, read_image),
            "originals (JPEG draft decode)": measure(
                original.records, functools.partial(read_image, draft_size=args.image_size)
            ),
            "prepared cache": measure(cached.records, cached.open_image),
        }
        sizes = (
            folder_megabytes(root / "ava" / "images", "*.jpg"),
            folder_megabytes(root / "cache" / "shards", "*.jpgs"),
        )
    reference = rows["originals (full decode)"]
    print(
        f"training input: {args.images} JPEGs of {args.width}x{args.height}, resize {args.image_size} "
        f"crop {args.crop_size}, batch {args.batch_size}, {args.workers} loader workers, {args.passes} passes"
    )
    for name, rate in rows.items():
        print(f"  {name:<32}{rate:>9.1f} img/s   x{rate / reference:.2f}")
    print(
        f"prepare (one-time): {prepare_rate:.1f} img/s; "
        f"cache {sizes[1]:.1f} MB vs originals {sizes[0]:.1f} MB"
    )


if __name__ == "__main__":
    main()
