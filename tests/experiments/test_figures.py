"""``persona-iaa figure fig4|fig5``: the paper's figures from a run folder or a reproduce root."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from persona_iaa.cli import main
from persona_iaa.evaluation.evaluate import PREDICTIONS_FILE, read_predictions

NOTE = "SGD did not converge"


def copy_run(run: Path, destination: Path, **stage2: object) -> Path:
    """A copy of a trained run (without its checkpoints) whose stage-2 summary has ``stage2`` changed;
    ``stage2=None`` records a run trained without the personality task."""
    shutil.copytree(run, destination, ignore=shutil.ignore_patterns("checkpoints", "tensorboard", "*.png"))
    file = destination / "test_metrics.json"
    metrics = json.loads(file.read_text())
    if "stage2" in stage2 and stage2["stage2"] is None:
        metrics["stage2"] = None
    else:
        metrics["stage2"].update(stage2)
    file.write_text(json.dumps(metrics))
    return destination


def converged(run: Path) -> dict:
    """Stage-2 values under which SGD reached the least-squares training MSE."""
    s = json.loads((run / "test_metrics.json").read_text())["stage2"]
    return {"train_mse": s["lstsq_train_mse"]}


def stalled(run: Path) -> dict:
    """Stage-2 values under which SGD did not move from w = 0 (the paper's settings on small data)."""
    s = json.loads((run / "test_metrics.json").read_text())["stage2"]
    return {"train_mse": s["train_mse_without_w"]}


def png(path: Path, min_width: int = 600, min_height: int = 300) -> np.ndarray:
    """The pixels of a valid PNG of a sensible size."""
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_width and image.height >= min_height, image.size
        return np.asarray(image.convert("RGB")).astype(int)


def red_pixels(pixels: np.ndarray) -> int:
    """Pixels of the note's dark red (#b00000); the bars are blue and orange, the text black."""
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(np.sum((r > 120) & (g < 50) & (b < 50)))


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


@pytest.mark.parametrize("stage2, noted", [(stalled, True), (converged, False)])
def test_fig4_notes_exactly_when_sgd_did_not_converge(trained_run, tmp_path, capsys, stage2, noted):
    run = copy_run(trained_run, tmp_path / "run", **stage2(trained_run))
    code, out, err = run_cli(["figure", "fig4", str(run)], capsys)
    assert code == 0, err
    assert (NOTE in out) is noted
    pixels = png(run / "fig4.png")  # the default output
    assert (red_pixels(pixels) > 50) is noted
    weights = json.loads((run / "test_metrics.json").read_text())["stage2"]
    assert f"N={weights['lstsq_weights']['N']:+.4f}" in out


def test_fig4_of_a_reproduce_root_draws_the_seeds_mean(trained_run, tmp_path, capsys):
    root = tmp_path / "root"
    first = copy_run(trained_run, root / "seed-0" / "multitask", **converged(trained_run))
    lstsq = json.loads((first / "test_metrics.json").read_text())["stage2"]["lstsq_weights"]
    shifted = {t: v + 1.0 for t, v in lstsq.items()}
    copy_run(trained_run, root / "seed-1" / "multitask", lstsq_weights=shifted, **stalled(trained_run))
    (root / "seed-2").mkdir()  # an unfinished seed is left out
    (root / "table.json").write_text("{}")
    code, out, err = run_cli(["figure", "fig4", str(root), "--output", str(tmp_path / "f" / "w.png")], capsys)
    assert code == 0, err
    assert "mean over 2 seeds" in out and f"{NOTE} in 1 of 2 seeds" in out
    assert f"A={lstsq['A'] + 0.5:+.4f}" in out
    assert red_pixels(png(tmp_path / "f" / "w.png")) > 50


def test_fig5_draws_the_highest_and_lowest_scoring_test_images(trained_run, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    code, out, err = run_cli(["figure", "fig5", str(run)], capsys)
    assert code == 0, err
    png(run / "fig5.png", 800, 800)
    paths, pred = read_predictions(run / PREDICTIONS_FILE)
    lines = [line for line in out.splitlines() if line.startswith("(")]
    assert len(lines) == 2
    assert lines[0].startswith("(a) high") and paths[int(np.argmax(pred.target[:, 0]))] in lines[0]
    assert lines[1].startswith("(b) low") and paths[int(np.argmin(pred.target[:, 0]))] in lines[1]


def test_fig5_images_picks_the_named_ones(trained_run, tmp_path, capsys):
    paths, _ = read_predictions(trained_run / PREDICTIONS_FILE)
    by_name, by_tail = paths[3], paths[5]
    tail = "/".join(Path(by_tail).parts[-2:])
    output = tmp_path / "named.png"
    code, out, err = run_cli(["figure", "fig5", str(trained_run), "--images", f"{Path(by_name).name},{tail}",
                              "--output", str(output)], capsys)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("(")]
    assert [line.split(": ")[1].split()[0] for line in lines] == [by_name, by_tail]
    png(output, 800, 800)


def test_fig5_without_predictions_file_predicts_the_test_split(trained_run, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    paths, pred = read_predictions(run / PREDICTIONS_FILE)
    (run / PREDICTIONS_FILE).unlink()
    code, out, err = run_cli(["figure", "fig5", str(run), "--count", "2"], capsys)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("(")]
    assert len(lines) == 4
    for line in lines:  # the same images and, within float32, the same scores as the run's own file
        path = line.split(": ", 2)[2].split()[0]
        score = float(line.split(" s=")[1].split()[0])
        assert score == pytest.approx(pred.score[paths.index(path)], abs=2e-3)


def test_fig5_of_a_reproduce_root_uses_the_first_seed(trained_run, tmp_path, capsys):
    root = tmp_path / "root"
    copy_run(trained_run, root / "seed-0" / "multitask")
    other = copy_run(trained_run, root / "seed-1" / "multitask")
    csv = other / PREDICTIONS_FILE  # seed 1's images do not exist: drawing them would fail
    csv.write_text(csv.read_text().replace("/aesthetic/", "/missing/"))
    code, out, err = run_cli(["figure", "fig5", str(root)], capsys)
    assert code == 0, err
    png(root / "fig5.png", 800, 800)


@pytest.mark.parametrize("args, expected", [
    (["fig4", "{run}", "--output", "{tmp}/fig.xyz"], "cannot write"),
    (["fig5", "{run}", "--images", "no-such-image.jpg"], "no test image matches 'no-such-image.jpg'"),
    (["fig5", "{run}", "--images", "a.jpg", "--count", "2"], "not both"),
    (["fig5", "{run}", "--count", "0"], "--count must be between"),
    (["fig5", "{run}", "--images", ","], "--images names no image"),
    (["fig5", "{run}", "--aesthetic-data", "csv:{tmp}/none.csv"], "does not exist"),
    (["fig4", "{tmp}"], "neither a finished run"),
    (["fig5", "{tmp}/no-such-run"], "no such run folder"),
])
def test_bad_input_is_one_line(trained_run, tmp_path, capsys, args, expected):
    argv = ["figure"] + [a.format(run=trained_run, tmp=tmp_path) for a in args]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    error = err.splitlines()[-1]  # after any progress line the library logged
    assert error.startswith("error: ") and expected in error and err.count("error:") == 1


@pytest.mark.parametrize("figure", ["fig4", "fig5"])
def test_a_run_without_the_personality_task_is_refused(trained_run, tmp_path, capsys, figure):
    run = copy_run(trained_run, tmp_path / "run", stage2=None)
    code, _, err = run_cli(["figure", figure, str(run)], capsys)
    assert code == 2 and "trained without the personality task" in err and "\n" not in err
    assert not (run / f"{figure}.png").exists()


def test_find_image_refuses_an_ambiguous_name():
    from persona_iaa.errors import DataError
    from persona_iaa.experiments.figures import find_image

    paths = ["/d/a/x.jpg", "/d/b/x.jpg", "/d/b/y.jpg"]
    assert find_image(paths, "b/x.jpg") == 1 and find_image(paths, "y.jpg") == 2
    assert find_image(paths, "/d/a/x.jpg") == 0
    with pytest.raises(DataError, match="matches 2 test images"):
        find_image(paths, "x.jpg")


def test_choose_images_never_draws_an_image_twice():
    from persona_iaa.experiments.figures import choose_images

    chosen = choose_images(["a", "b", "c"], np.array([0.2, 0.9, 0.5]), count=2)
    assert [i for _, i in chosen] == [1, 2, 0]
    assert [label[:3] for label, _ in chosen] == ["(a)", "(b)", "(c)"]


def test_plot_fig5_lays_out_many_panels_and_odd_file_names(tmp_path):
    from persona_iaa.experiments.figures import Fig5Panel, plot_fig5

    image = Image.new("RGB", (300, 200), (200, 120, 40))
    panels = [Fig5Panel(f"({k})", f"/x/price_$5$_{'long' * 20}_{k}.jpg", image, 0.1 * k, 0.5,
                        np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), 0.45) for k in range(5)]
    path = plot_fig5(panels, tmp_path / "five.png")
    pixels = png(path, 1000, 1500)
    assert pixels.shape[0] > pixels.shape[1]  # two rows of three, not one row of five
