"""Every hint a data error gives works as written: each test copies the advice out of the message and
applies it."""
from __future__ import annotations

import json
import re
import shlex

import pytest

from persona_iaa.cli import main
from persona_iaa.config import load_config
from persona_iaa.data.cache import prepare_cache
from persona_iaa.data.registry import load_source, load_task_data
from persona_iaa.errors import DataError

from .miniatures import photos, write_ava, write_csv, write_flickr_aes, write_psychoflickr

OPTION_HINT = re.compile(r"(data\.(\w+)_options\.\w+=\S+) \(train\) "
                         r"or -o (\S+) \(datasets inspect, prepare\)")


def error_of(spec: str, task: str, options=None) -> str:
    with pytest.raises(DataError) as caught:
        load_source(spec, task, options)
    return str(caught.value)


def apply_option_hint(message: str, spec: str, tmp_path, capsys) -> list:
    """Apply the hint's config form as `train` reads it, and its -o form to `datasets inspect` and
    `prepare`."""
    match = OPTION_HINT.search(message)
    assert match, f"no option hint in: {message}"
    config_form, task, option_form = match.groups()
    config = load_config(None, [config_form])
    options = getattr(config.data, f"{task}_options")
    data = load_task_data(spec, task, options, val_fraction=config.data.val_fraction)
    assert main(["datasets", "inspect", spec, "-o", option_form]) == 0
    assert main(["prepare", spec, "--output", str(tmp_path / "cache"), "--workers", "0", "--image-size", "16",
                 "-o", option_form]) == 0
    capsys.readouterr()
    return data.source.records


def test_score_range_hint_of_a_csv(tmp_path, capsys):
    names = photos(tmp_path, 4)
    write_csv(tmp_path / "a.csv", ["path", "score"], zip(names, [2.5, 9.0, 5.5, 7.0]))
    spec = f"csv:{tmp_path / 'a.csv'}"
    message = error_of(spec, "aesthetic")
    assert "2.5..9" in message and "score_range=1,10" in message
    records = apply_option_hint(message, spec, tmp_path, capsys)
    assert [r.target[0] for r in records] == pytest.approx([(s - 1) / 9 for s in (2.5, 9.0, 5.5, 7.0)])


def test_score_range_hint_of_flickr_aes(tmp_path, capsys):
    write_flickr_aes(tmp_path)
    spec = f"flickr-aes:{tmp_path}"
    message = error_of(spec, "aesthetic", {"score_range": "0,1"})
    assert "score_range=1,5" in message
    assert apply_option_hint(message, spec, tmp_path, capsys)


def test_trait_scale_hint_for_an_unknown_scale(tmp_path, capsys):
    names = photos(tmp_path, 3)
    write_csv(tmp_path / "p.csv", ["path", *"OCEAN"], [[names[0], 1, 2, 3, 4, 5], [names[1], 5, 4, 3, 2, 1],
                                                         [names[2], 3, 3, 3, 1.5, 4.5]])
    spec = f"csv:{tmp_path / 'p.csv'}"
    message = error_of(spec, "personality")
    assert "trait_scale=1,5" in message
    records = apply_option_hint(message, spec, tmp_path, capsys)
    assert records[0].target == pytest.approx([-1, -0.5, 0, 0.5, 1])


def test_trait_scale_hint_when_the_declared_scale_is_too_narrow(tmp_path, capsys):
    write_psychoflickr(tmp_path, scale="items")
    spec = f"psychoflickr:{tmp_path}"
    message = error_of(spec, "personality", {"trait_scale": "unit"})
    assert "outside the declared unit scale" in message
    assert apply_option_hint(message, spec, tmp_path, capsys)


def test_traits_table_hint_when_there_are_several(tmp_path, capsys):
    world = write_psychoflickr(tmp_path)
    (tmp_path / "copy.csv").write_text((tmp_path / "traits.csv").read_text())
    spec = f"psychoflickr:{tmp_path}"
    message = error_of(spec, "personality")
    assert "several traits tables" in message
    records = apply_option_hint(message, spec, tmp_path, capsys)
    assert {r.meta["user"] for r in records} == set(world["users"])


def test_val_fraction_hint(tmp_path, capsys):
    names = photos(tmp_path, 12)
    write_csv(tmp_path / "a.csv", ["path", "score"], [[n, 0.5] for n in names])
    spec = f"csv:{tmp_path / 'a.csv'}"
    assert main(["datasets", "inspect", spec, "--val-fraction", "40"]) == 2
    message = capsys.readouterr().err
    train_form = re.search(r"(data\.val_fraction=\S+) \(train\)", message).group(1)
    inspect_form = re.search(r"(--val-fraction \S+) \(datasets inspect\)", message).group(1)
    config = load_config(None, [train_form])
    assert load_task_data(spec, "aesthetic", val_fraction=config.data.val_fraction).splits["val"]
    assert main(["datasets", "inspect", spec, *inspect_form.split()]) == 0


def test_unfinished_cache_hint_resumes_it(tmp_path, capsys):
    write_ava(tmp_path / "ava")
    cache = tmp_path / "cache"
    prepare_cache(f"ava:{tmp_path / 'ava'}", cache, image_size=20, quality=80, shard_size=8, workers=0,
                  options={"test_list": "generic_test", "skip_known_corrupt": False})
    manifest = json.loads((cache / "persona-iaa-cache.json").read_text())
    (cache / "persona-iaa-cache.json").write_text(json.dumps({**manifest, "complete": False}))
    message = error_of(f"cache:{cache}", "aesthetic")
    command = shlex.split(re.search(r"run `([^`]+)` again", message).group(1))
    assert command[:2] == ["persona-iaa", "prepare"]
    assert main(command[1:]) == 0
    assert len(load_source(f"cache:{cache}", "aesthetic").records) == manifest["tasks"]["aesthetic"]
