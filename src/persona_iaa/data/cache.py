"""The prepared cache: every image decoded once and stored at the training size, read instead of the
originals.

``persona-iaa prepare FORMAT:PATH --output CACHE`` decodes each image with :func:`open_image` (EXIF
orientation, RGB), resizes it to ``image_size`` x ``image_size`` the way the training transform does
(bilinear, antialiased) and re-encodes it as a small JPEG; shards of JPEGs are written in parallel.
Training on the original photos spends most of its time decoding megapixel JPEGs; the cache turns that
into decoding a 256 x 256 one. Layout of CACHE/::

    persona-iaa-cache.json    manifest; "complete": false until every shard and record file is written
    shards/NNNNN.jpgs         concatenated JPEG bytes of up to shard_size images
    shards/NNNNN.json         that shard's index (paths, offsets, lengths, unreadable images); marks it done
    images.json               original image path -> shard, offset, length
    records-<task>.json       the parsed records and skips of each task the source provides
    unreadable.csv            path,reason of every image that could not be decoded (left out)

Resuming: a rerun with the same settings keeps every shard whose index lists the images it should hold.
Reading: ``cache:CACHE`` (or the original ``FORMAT:CACHE``) is a :class:`DatasetSource` whose records
come from the record files and whose ``open_image`` decodes from the shards, so training needs no change.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import mmap
import os
import shlex
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from PIL import Image

from ..errors import DataError, ImageError
from ..files import atomic_write, write_json
from .images import open_image
from .records import DatasetSource, Record, Skip
from .registry import PREPARED_CACHE_MANIFEST, format_tasks, load_source, parse_spec, register_format

CACHE_FORMAT = "persona-iaa/prepared-cache"
CACHE_VERSION = 1
#: Settings that must match for a rerun to resume (anything else starts a new cache elsewhere).
RESUME_KEYS = ("source", "options", "image_size", "quality", "shard_size")


@dataclasses.dataclass(frozen=True)
class ShardJob:
    number: int
    paths: tuple[str, ...]
    folder: str
    image_size: int
    quality: int

    @property
    def data_file(self) -> Path:
        return Path(self.folder) / f"{self.number:05d}.jpgs"

    @property
    def index_file(self) -> Path:
        return Path(self.folder) / f"{self.number:05d}.json"

    def done(self) -> bool:
        """True when an earlier run wrote this shard with exactly these images."""
        try:
            index = json.loads(self.index_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        stored = list(index.get("paths", [])) + [path for path, _ in index.get("unreadable", [])]
        return sorted(stored) == sorted(self.paths) and self.data_file.is_file()


@dataclasses.dataclass
class PrepareResult:
    """What a prepare run did; ``unreadable`` lists the images left out, with their reason."""

    output: Path
    images: int
    reused: int
    unreadable: list[Skip]
    tasks: dict[str, int]
    seconds: float
    #: tasks the format provides whose labels were not found, with the reason
    unavailable: dict[str, str]


def encode_image(path: str, image_size: int, quality: int) -> bytes:
    """Decode once (JPEG draft decoding at the target size), resize as training does, re-encode."""
    image = open_image(path, draft_size=image_size)
    image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def short_reason(error: ImageError, path: str) -> str:
    """The reason of an :class:`ImageError` without the path it starts with."""
    message = str(error)
    return message[len(path) + 2:] if message.startswith(f"{path}: ") else message


def write_shard(job: ShardJob) -> int:
    """Encode one shard's images; the index is written last, so a shard is either done or redone."""

    chunks: list[bytes] = []
    paths: list[str] = []
    unreadable: list[tuple[str, str]] = []
    for path in job.paths:
        try:
            chunks.append(encode_image(path, job.image_size, job.quality))
            paths.append(path)
        except ImageError as exc:
            unreadable.append((path, short_reason(exc, path)))
    lengths = [len(chunk) for chunk in chunks]

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(b"".join(chunks))

    atomic_write(job.data_file, write)
    offsets = list(itertools.accumulate(lengths, initial=0))[:-1]
    write_json(job.index_file,
               {"paths": paths, "offsets": offsets, "lengths": lengths, "unreadable": unreadable})
    return len(job.paths)


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / PREPARED_CACHE_MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{root} is not a prepared cache (no {PREPARED_CACHE_MANIFEST}); "
                        "make one with: persona-iaa prepare FORMAT:PATH --output CACHE") from None
    except ValueError as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from None
    if manifest.get("format") != CACHE_FORMAT or manifest.get("version") != CACHE_VERSION:
        raise DataError(f"{path}: not a version-{CACHE_VERSION} persona-iaa cache manifest")
    return manifest


def _dump_compact(path: Path, data: Any) -> None:

    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(data, separators=(",", ":"), allow_nan=False), encoding="utf-8")

    atomic_write(path, write)


def _settings(spec: str, options: Mapping[str, Any], image_size: int, quality: int, shard_size: int) -> dict:
    name, path = parse_spec(spec)
    return {"source": {"format": name, "path": str(path)}, "source_spec": spec,
            "options": {k: options[k] for k in sorted(options)}, "image_size": image_size,
            "quality": quality, "shard_size": shard_size}


def _start(output: Path, settings: dict[str, Any]) -> None:
    """Create the cache folder, or check that an existing one was started with the same settings.

    The manifest says "complete": false until the end, so nobody reads shards while they are rewritten.
    """

    manifest_file = output / PREPARED_CACHE_MANIFEST
    if manifest_file.is_file():
        manifest = read_manifest(output)
        differs = [k for k in RESUME_KEYS if json.dumps(manifest.get(k), sort_keys=True)
                   != json.dumps(settings[k], sort_keys=True)]
        if differs:
            raise DataError(f"{output} holds a cache prepared with other settings ({', '.join(differs)}); "
                            "choose another --output or delete it")
    elif output.exists() and any(output.iterdir()):
        raise DataError(f"{output} exists and is not a prepared cache; choose an empty or new folder")
    write_json(manifest_file,
               {"format": CACHE_FORMAT, "version": CACHE_VERSION, "complete": False, **settings})


def prepare_cache(spec: str, output: Path, *, options: Optional[Mapping[str, Any]] = None,
                  image_size: int = 256, quality: int = 90, workers: Optional[int] = None,
                  shard_size: int = 256, progress: Optional[bool] = None) -> PrepareResult:
    """Decode every image of ``spec`` once into a cache under ``output`` (see the module docstring).

    ``workers``: processes (None = every CPU core, 0 = this process). ``progress`` None shows the bar
    only on a terminal. Interrupting loses at most the shards in flight; a rerun resumes.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    name, path = parse_spec(spec)
    if name == "cache":
        raise DataError(f"{spec} is already a prepared cache")
    spec = f"{name}:{path.resolve()}"  # absolute image paths: the cache's keys do not depend on the cwd
    if image_size < 8 or not 1 <= quality <= 100 or shard_size < 1:
        raise DataError("prepare needs image_size >= 8, quality in 1..100 and shard_size >= 1")
    options = dict(options or {})
    sources: dict[str, DatasetSource] = {}
    unavailable: dict[str, str] = {}
    for task in format_tasks(name):
        try:
            sources[task] = load_source(spec, task, options)
        except DataError as exc:
            unavailable[task] = str(exc)
    if not sources:
        raise DataError(next(iter(unavailable.values())))
    if any(s.spec.startswith("cache:") for s in sources.values()):
        raise DataError(f"{spec} is already a prepared cache")
    output = Path(output)
    settings = _settings(spec, options, image_size, quality, shard_size)
    _start(output, settings)
    paths = sorted({record.path for source in sources.values() for record in source.records})
    shard_dir = output / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    jobs = [ShardJob(n, tuple(paths[i:i + shard_size]), str(shard_dir), image_size, quality)
            for n, i in enumerate(range(0, len(paths), shard_size))]
    for stale in shard_dir.iterdir():  # shards of an earlier, larger plan
        if not stale.stem.isdigit() or int(stale.stem) >= len(jobs):
            stale.unlink()
    todo = [job for job in jobs if not job.done()]
    reused = len(paths) - sum(len(job.paths) for job in todo)
    with tqdm(total=len(paths), initial=reused, unit="img", desc=f"prepare {output.name}", smoothing=0.1,
              disable=None if progress is None else not progress) as bar:
        _write_shards(todo, (os.cpu_count() or 1) if workers is None else workers, bar.update)
    unreadable, tasks = _finish(output, jobs, sources)
    write_json(output / PREPARED_CACHE_MANIFEST, {
        "format": CACHE_FORMAT, "version": CACHE_VERSION, "complete": True, **settings,
        "images": len(paths) - len(unreadable), "unreadable": len(unreadable), "tasks": tasks,
    })
    return PrepareResult(output, len(paths) - len(unreadable), reused, unreadable, tasks,
                         time.perf_counter() - started, unavailable)


def _write_shards(todo: list[ShardJob], workers: int, done: Callable[[int], Any]) -> None:
    """Write the shards in ``workers`` processes (0: this one), calling ``done(images)`` as each finishes."""
    if workers == 0 or len(todo) <= 1:
        for job in todo:
            done(write_shard(job))
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        futures = [pool.submit(write_shard, job) for job in todo]
        try:
            for future in as_completed(futures):
                done(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _finish(output: Path, jobs: list[ShardJob],
            sources: dict[str, DatasetSource]) -> tuple[list[Skip], dict[str, int]]:
    """Merge the shard indexes into images.json, write the record files and unreadable.csv.

    Returns the unreadable images and the number of records kept per task.
    """

    columns: dict[str, list] = {"paths": [], "shards": [], "offsets": [], "lengths": []}
    unreadable: list[Skip] = []
    for job in jobs:
        index = json.loads(job.index_file.read_text(encoding="utf-8"))
        columns["paths"] += index["paths"]
        columns["shards"] += [job.number] * len(index["paths"])
        columns["offsets"] += index["offsets"]
        columns["lengths"] += index["lengths"]
        unreadable += [Skip(path, reason) for path, reason in index["unreadable"]]
    _dump_compact(output / "images.json", columns)
    reasons = {skip.path: skip.reason for skip in unreadable}
    kept_per_task = {}
    for task, source in sources.items():
        kept = [r for r in source.records if r.path not in reasons]
        # The reason without its detail in brackets, so that skip summaries group alike failures.
        skipped = source.skipped + [Skip(r.path, f"unreadable image: {reasons[r.path].split(' (')[0]}")
                                    for r in source.records if r.path in reasons]
        _dump_compact(output / f"records-{task}.json", {
            "paths": [r.path for r in kept], "targets": [list(r.target) for r in kept],
            "splits": [r.split for r in kept], "meta": [r.meta for r in kept],
            "skipped": [[s.path, s.reason] for s in skipped], "info": source.info,
        })
        kept_per_task[task] = len(kept)

    def dump(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "reason"])
            writer.writerows([s.path, s.reason] for s in unreadable)

    atomic_write(output / "unreadable.csv", dump)
    return unreadable, kept_per_task


class CachedImages:
    """``open_image`` of a cache source: original path -> decoded image from the shards.

    Picklable: each process (DataLoader worker) loads the index and maps the shards itself, lazily.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._rows: Optional[dict[str, tuple[int, int, int]]] = None
        self._shards: dict[int, mmap.mmap] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        CachedImages.__init__(self, state["root"])

    def _locate(self, path: str) -> tuple[int, int, int]:
        if self._rows is None:
            data = json.loads((self.root / "images.json").read_text(encoding="utf-8"))
            self._rows = dict(zip(data["paths"], zip(data["shards"], data["offsets"], data["lengths"])))
        try:
            return self._rows[path]
        except KeyError:
            raise ImageError(f"{path}: not in the prepared cache {self.root}") from None

    def _shard(self, number: int) -> mmap.mmap:
        if number not in self._shards:
            with open(self.root / "shards" / f"{number:05d}.jpgs", "rb") as handle:
                self._shards[number] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._shards[number]

    def __call__(self, path: str) -> Image.Image:
        shard, offset, length = self._locate(path)
        return open_image(self._shard(shard)[offset:offset + length])


def _frozen(value: Any) -> Any:
    """JSON lists back to the tuples the parsers put in ``Record.meta`` (vote counts, ratings)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def prepare_command(manifest: Mapping[str, Any], output: Path) -> str:
    """The ``persona-iaa prepare`` command line that resumes a cache: its source, settings and options,
    since a rerun with other settings is refused."""
    argv = ["persona-iaa", "prepare", manifest["source_spec"], "--output", str(output),
            "--image-size", str(manifest["image_size"]), "--quality", str(manifest["quality"]),
            "--shard-size", str(manifest["shard_size"])]
    for key, value in manifest["options"].items():
        argv += ["-o", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return shlex.join(argv)


@register_format("cache", help="a prepared cache (persona-iaa prepare); also read as FORMAT:CACHE")
def parse_cache(path: Path, task: str, **options: Any) -> DatasetSource:
    manifest = read_manifest(path)
    source_spec = manifest["source_spec"]
    if not manifest.get("complete"):
        raise DataError(f"{path}: unfinished cache; run `{prepare_command(manifest, path)}` again to "
                        "finish it")
    as_text = {k: str(v) for k, v in options.items()}
    if options and as_text != {k: str(v) for k, v in manifest["options"].items()}:
        raise DataError(f"{path} was prepared with options {manifest['options'] or 'none'}, not {options}; "
                        "prepare it again with the options you need")
    if task not in manifest["tasks"]:
        raise DataError(f"{path} holds {' and '.join(manifest['tasks'])} labels of {source_spec}, "
                        f"not {task} labels")
    data = json.loads((path / f"records-{task}.json").read_text(encoding="utf-8"))
    records = [Record(p, tuple(t), s, _frozen(m))
               for p, t, s, m in zip(data["paths"], data["targets"], data["splits"], data["meta"])]
    info = {"source_format": manifest["source"]["format"], "prepared_from": source_spec,
            "image_size": manifest["image_size"], **data["info"]}
    return DatasetSource(spec=f"cache:{path}", task=task, records=records,
                         skipped=[Skip(p, r) for p, r in data["skipped"]], open_image=CachedImages(path),
                         info=info)
