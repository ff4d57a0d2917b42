"""`persona-iaa train` runs the paper's configurations on the real layouts (and on a prepared cache)."""
from __future__ import annotations

import json

import pytest

from persona_iaa.cli import main
from persona_iaa.data.cache import prepare_cache
from persona_iaa.demo import builtin_config_path

from .miniatures import write_aadb, write_ava, write_para, write_psychoflickr

TEST_SCALE = ["--backbone", "tiny", "--backbone-weights", "none", "--image-size", "32", "--epochs", "1",
              "--stage2-epochs", "1", "--batch-size", "8", "--workers", "0", "--device", "cpu"]


def train(config: str, aesthetic: str, personality: str, output, *overrides: str) -> dict:
    assert main(["train", "--config", str(builtin_config_path(config)), "--aesthetic-data", aesthetic,
                 "--personality-data", personality, "--output", str(output), *TEST_SCALE, *overrides]) == 0
    return json.loads((output / "test_metrics.json").read_text())


@pytest.mark.slow
def test_ava_with_psychoflickr_on_the_paper_configuration(tmp_path):
    write_ava(tmp_path / "ava")
    write_psychoflickr(tmp_path / "psychoflickr")
    result = train("ava", f"ava:{tmp_path / 'ava'}", f"psychoflickr:{tmp_path / 'psychoflickr'}",
                   tmp_path / "run", "data.val_fraction=4")  # the config's 2,000-image slice, scaled down
    # 40 rows - 2 missing - 1 corrupt
    assert result["data"]["aesthetic"] == {"train": 26, "val": 4, "test": 7}
    assert result["data"]["skipped"]["aesthetic"]["image file missing"]["count"] == 2
    assert result["test"]["n"] == 7 and set(result["inter_task_weights"]) == set("OCEAN")


@pytest.mark.slow
def test_aadb_with_para_on_the_paper_configuration(tmp_path):
    write_aadb(tmp_path / "aadb")
    write_para(tmp_path / "para")
    result = train("aadb", f"aadb:{tmp_path / 'aadb'}", f"para:{tmp_path / 'para'}", tmp_path / "run",
                   "data.val_fraction=3", "data.personality_options.liked_threshold=3.5")
    assert result["data"]["aesthetic"]["test"] == 6
    skipped = result["data"]["skipped"]["aesthetic"]
    assert skipped["train image also in the test list (dropped from train)"]["count"] == 2
    assert sum(result["data"]["personality"].values()) > 0 and "personality" in result


@pytest.mark.slow
def test_training_reads_a_prepared_cache_transparently(tmp_path):
    write_ava(tmp_path / "ava")
    write_psychoflickr(tmp_path / "psychoflickr")
    prepare_cache(f"ava:{tmp_path / 'ava'}", tmp_path / "ava-cache", image_size=32, workers=0)
    prepare_cache(f"psychoflickr:{tmp_path / 'psychoflickr'}", tmp_path / "pf-cache", image_size=32,
                  workers=0)
    originals = train("ava", f"ava:{tmp_path / 'ava'}", f"psychoflickr:{tmp_path / 'psychoflickr'}",
                      tmp_path / "from-originals", "data.val_fraction=4")
    cached = train("ava", f"ava:{tmp_path / 'ava-cache'}", f"cache:{tmp_path / 'pf-cache'}",
                   tmp_path / "from-cache", "data.val_fraction=4")
    assert cached["data"]["aesthetic"] == originals["data"]["aesthetic"]
    assert cached["data"]["personality"] == originals["data"]["personality"]
    assert cached["test"]["n"] == originals["test"]["n"]
