"""The CLI trains, evaluates and scores end to end on the small world."""
from __future__ import annotations

import csv
import json

from persona_iaa.cli import main


def test_evaluate_json_has_the_documented_keys(trained_run, demo_data, capsys):
    assert main(["evaluate", "--checkpoint", str(trained_run), "--aesthetic-data", demo_data["aesthetic"],
                 "--personality-data", demo_data["personality"], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("srocc", "plcc", "krcc", "rmse", "mae", "acc", "n", "inter_task_weights", "personality"):
        assert key in result
    assert set(result["inter_task_weights"]) == {"O", "C", "E", "A", "N"}
    assert result["n"] == 24
    assert (trained_run / "inter_task_weights.png").stat().st_size > 1000


def test_score_writes_one_row_per_image_with_errors(trained_run, tmp_path):
    good = tmp_path / "good.png"
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 100, 50)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(trained_run), str(good), str(bad), "--output", str(out)]) == 3
    rows = list(csv.DictReader(out.open()))
    assert [r["path"] for r in rows] == [str(good), str(bad)]
    assert rows[0]["error"] == "" and 0 <= float(rows[0]["aesthetic"]) <= 1
    assert rows[1]["score"] == "" and "not an image" in rows[1]["error"]


def test_evaluate_reports_an_unwritable_plot_in_one_line(trained_run, demo_data, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["evaluate", "--checkpoint", str(trained_run), "--aesthetic-data", demo_data["aesthetic"],
                 "--json", "--plot", str(blocker / "weights.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: cannot write the plot") and "\n" not in err
