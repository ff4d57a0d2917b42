"""prepare: decode once into a cache (parallel, resumable, unreadable images reported) read back
transparently."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from persona_iaa.cli import main
from persona_iaa.data import cache as cache_module
from persona_iaa.data.cache import prepare_cache
from persona_iaa.data.images import open_image
from persona_iaa.data.registry import load_source
from persona_iaa.errors import DataError

from .miniatures import save_photo, write_ava, write_para


@pytest.fixture
def ava_root(tmp_path):
    """The AVA miniature plus a truncated download and an EXIF-rotated photo."""
    root = tmp_path / "ava"
    ava = write_ava(root)
    truncated = root / "images" / f"{ava['ids'][10]}.jpg"
    save_photo(truncated, "truncated")
    save_photo(root / "images" / f"{ava['ids'][11]}.jpg", "rotated", size=(40, 20))
    return root, ava, str(truncated)


def test_prepare_caches_every_readable_image_and_reports_the_rest(ava_root, tmp_path):
    root, ava, truncated = ava_root
    result = prepare_cache(f"ava:{root}", tmp_path / "cache", image_size=24, workers=0, shard_size=8)
    original = load_source(f"ava:{root}", "aesthetic")
    unreadable = [(s.path, s.reason.split(" (")[0]) for s in result.unreadable]
    assert unreadable == [(truncated, "truncated or corrupt file")]
    assert result.images == len(original.records) - 1 and result.tasks == {"aesthetic": result.images}
    with (tmp_path / "cache" / "unreadable.csv").open() as handle:
        assert [row["path"] for row in csv.DictReader(handle)] == [truncated]

    cached = load_source(f"cache:{tmp_path / 'cache'}", "aesthetic")
    assert {r.path: r for r in cached.records} == {r.path: r for r in original.records if r.path != truncated}
    assert cached.skip_summary()["unreadable image: truncated or corrupt file"]["examples"] == [truncated]
    for record in cached.records:
        image = cached.open_image(record.path)
        assert image.mode == "RGB" and image.size == (24, 24)
    rotated = next(r.path for r in cached.records if r.path.endswith(f"{ava['ids'][11]}.jpg"))
    upright = np.asarray(open_image(rotated).resize((24, 24), Image.Resampling.BILINEAR), dtype=float)
    stored = np.asarray(cached.open_image(rotated), dtype=float)
    assert np.abs(stored - upright).mean() < 12  # JPEG noise only


def test_cache_given_as_the_original_format_path_reads_the_same(ava_root, tmp_path):
    root, _, _ = ava_root
    prepare_cache(f"ava:{root}", tmp_path / "cache", image_size=16, workers=0)
    as_ava = load_source(f"ava:{tmp_path / 'cache'}", "aesthetic")
    assert as_ava.spec.startswith("cache:") and as_ava.info["source_format"] == "ava"
    assert len(as_ava.records) == len(load_source(f"cache:{tmp_path / 'cache'}", "aesthetic").records)
    with pytest.raises(DataError, match="is a prepared cache of ava: data, not aadb:"):
        load_source(f"aadb:{tmp_path / 'cache'}", "aesthetic")
    with pytest.raises(DataError, match="was prepared with options none"):
        load_source(f"cache:{tmp_path / 'cache'}", "aesthetic", {"test_list": "none"})
    with pytest.raises(DataError, match="holds aesthetic labels of ava:.*not personality"):
        load_source(f"cache:{tmp_path / 'cache'}", "personality")


def test_parallel_prepare_matches_the_single_process_one(ava_root, tmp_path):
    root, _, _ = ava_root
    serial = prepare_cache(f"ava:{root}", tmp_path / "serial", image_size=16, workers=0, shard_size=5)
    parallel = prepare_cache(f"ava:{root}", tmp_path / "parallel", image_size=16, workers=2, shard_size=5)
    assert (serial.images, serial.unreadable) == (parallel.images, parallel.unreadable)
    for name in ("images.json", "records-aesthetic.json"):
        assert (tmp_path / "serial" / name).read_text() == (tmp_path / "parallel" / name).read_text()


def test_interrupted_prepare_resumes_where_it_stopped(ava_root, tmp_path, monkeypatch):
    root, _, _ = ava_root
    encoded = []
    real_encode = cache_module.encode_image

    def encode_then_interrupt(path, image_size, quality):
        if len(encoded) == 12:
            raise KeyboardInterrupt
        encoded.append(path)
        return real_encode(path, image_size, quality)

    monkeypatch.setattr(cache_module, "encode_image", encode_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        prepare_cache(f"ava:{root}", tmp_path / "cache", image_size=16, workers=0, shard_size=5)
    with pytest.raises(DataError, match="unfinished cache; run `persona-iaa prepare ava:"):
        load_source(f"cache:{tmp_path / 'cache'}", "aesthetic")
    monkeypatch.setattr(cache_module, "encode_image", real_encode)
    result = prepare_cache(f"ava:{root}", tmp_path / "cache", image_size=16, workers=0, shard_size=5)
    assert result.reused == 10  # the two shards finished before the interruption
    assert len(load_source(f"cache:{tmp_path / 'cache'}", "aesthetic").records) == result.images
    with pytest.raises(DataError, match="prepared with other settings \\(image_size\\)"):
        prepare_cache(f"ava:{root}", tmp_path / "cache", image_size=32, workers=0, shard_size=5)


def test_prepare_refuses_a_folder_that_is_not_a_cache(ava_root, tmp_path):
    root, _, _ = ava_root
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("keep me")
    with pytest.raises(DataError, match="exists and is not a prepared cache"):
        prepare_cache(f"ava:{root}", tmp_path / "busy", workers=0)


def test_both_tasks_of_a_format_are_cached_once(tmp_path):
    write_para(tmp_path / "para")
    result = prepare_cache(f"para:{tmp_path / 'para'}", tmp_path / "cache", image_size=16, workers=0)
    aesthetic = load_source(f"para:{tmp_path / 'cache'}", "aesthetic")
    personality = load_source(f"para:{tmp_path / 'cache'}", "personality")
    assert result.tasks == {"aesthetic": len(aesthetic.records), "personality": len(personality.records)}
    assert result.images == len({r.path for r in aesthetic.records + personality.records})
    assert personality.open_image(personality.records[0].path).size == (16, 16)


def test_prepare_command_shows_progress_and_a_json_summary(ava_root, tmp_path, capsys, monkeypatch):
    root, _, truncated = ava_root
    monkeypatch.setattr(cache_module, "prepare_cache", _with_progress(prepare_cache))
    assert main(["prepare", f"ava:{root}", "--output", str(tmp_path / "cache"), "--image-size", "16",
                 "--workers", "2", "--shard-size", "8", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["unreadable"][0]["path"] == truncated and summary["reused"] == 0
    assert "prepare cache" in captured.err and "img" in captured.err  # the progress bar
    assert main(["prepare", f"ava:{root}", "--output", str(tmp_path / "cache"), "--image-size", "16",
                 "--shard-size", "8"]) == 0
    assert "kept from an earlier run" in capsys.readouterr().out


def _with_progress(prepare):
    return lambda *args, **kwargs: prepare(*args, **{**kwargs, "progress": True})
