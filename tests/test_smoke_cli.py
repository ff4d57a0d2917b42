"""The CLI trains, evaluates and scores end to end on the small world."""

from __future__ import annotations

import csv
import json

from persona_iaa.cli import main


def test_evaluate_json_has_the_documented_keys(trained_run, demo_data, capsys):
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(trained_run),
                "--aesthetic-data",
                demo_data["aesthetic"],
                "--personality-data",
                demo_data["personality"],
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    for key in (
        "srocc",
        "plcc",
        "krcc",
        "rmse",
        "mse",
        "mae",
        "acc",
        "n",
        "inter_task_weights",
        "personality",
    ):
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
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(trained_run),
            "--aesthetic-data",
            demo_data["aesthetic"],
            "--json",
            "--plot",
            str(blocker / "weights.png"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: cannot write the plot") and "\n" not in err


def test_help_of_every_command_starts_without_torch():
    """``persona-iaa --help`` (and each command's) must not pay for importing torch."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from persona_iaa.cli import COMMANDS, build_parser, main\n"
        "build_parser()\n"
        "for argv in [[]] + [[name] for name in COMMANDS] + [['datasets', 'inspect']]:\n"
        "    try:\n"
        "        main(argv + ['--help'])\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, argv\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--checkpoint-minutes MIN" in result.stdout and "{onnx,torchscript}" in result.stdout
    assert result.stdout.rstrip().endswith("no torch")


def test_the_library_logs_and_a_silenced_logger_prints_nothing(capsys, caplog):
    import logging
    import signal

    from persona_iaa.runtime import StopSignals

    caplog.set_level(logging.INFO, logger="persona_iaa")
    with StopSignals() as stop:
        stop._handle(signal.SIGTERM, None)
    assert stop.received == signal.SIGTERM
    assert [(r.name, r.levelno) for r in caplog.records] == [("persona_iaa.runtime", logging.WARNING)]
    assert "SIGTERM received" in caplog.records[0].getMessage()
    caplog.clear()
    logging.getLogger("persona_iaa").setLevel(logging.ERROR)  # how a user silences it; caplog restores it
    with StopSignals() as stop:
        stop._handle(signal.SIGINT, None)
    assert stop.received == signal.SIGINT and not caplog.records
    assert capsys.readouterr() == ("", "")


def test_the_cli_prints_library_records_as_plain_lines_on_stderr(capsys, monkeypatch):
    import logging

    from persona_iaa.data import registry

    def formats_that_log():
        logging.getLogger("persona_iaa.data.registry").info("a note from the library")
        logging.getLogger("persona_iaa.data.registry").debug("detail only a debugger wants")
        return {}

    logger = logging.getLogger("persona_iaa")
    level, handlers = logger.level, list(logger.handlers)
    monkeypatch.setattr(registry, "available_formats", formats_that_log)
    assert main(["datasets", "formats"]) == 0
    assert capsys.readouterr() == ("", "a note from the library\n")
    assert (logger.level, logger.handlers) == (level, handlers)  # the command leaves logging as it found it
