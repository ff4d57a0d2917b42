"""The personalize and score --profile commands end to end on a tiny trained model and generated people."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from persona_iaa import load_model
from persona_iaa.cli import main


def _one_error_line(capsys) -> str:
    # the test-size model is named as such ("note: ..."); the failure itself is one line
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("note: ")]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def personalize(action, run, world, *argv) -> int:
    return main(["personalize", action, "--checkpoint", str(run), "--ratings", world["spec"],
                 "--workers", "0", *argv])


def _my_ratings(world, tmp_path, count=30):
    """A person's own ratings file (path,score on a 0-10 scale): one generated user's ratings."""
    root = world["spec"].split(":", 1)[1]
    rows = list(csv.DictReader(open(f"{root}/PARA-Images.csv")))
    mine = [r for r in rows if r["userId"] == world["users"][0]][:count]
    path = tmp_path / "mine.csv"
    path.write_text("path,score\n" + "".join(
        f"{root}/imgs/{r['sessionId']}/{r['imageName']},{2 * float(r['aestheticScore'])}\n" for r in mine))
    return path


def test_evaluate_json_puts_traits_and_100_ratings_above_generic(run_copy, people_world, capsys):
    assert personalize("evaluate", run_copy, people_world, "--test-users", "6", "--repeats", "4",
                       "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"users", "results", "protocol"} and result["users"] == 6
    assert list(result["results"]) == ["generic", "traits", "shots_10", "shots_100"]
    for row in result["results"].values():
        assert set(row) == {"srocc", "srocc_sd", "n_users"} and row["n_users"] == 6
    srocc = {name: row["srocc"] for name, row in result["results"].items()}
    assert srocc["traits"] > srocc["generic"] and srocc["shots_100"] > srocc["generic"]
    assert (run_copy / "model.personal-outputs.npz").is_file()  # the outputs were kept for the next run


def test_table_quotes_published_results_with_sources(run_copy, people_world, capsys):
    assert personalize("evaluate", run_copy, people_world, "--test-users", "3", "--shots", "10",
                       "--repeats", "2") == 0
    out = capsys.readouterr().out
    assert "10 ratings (few-shot)" in out and "100 ratings (few-shot)" not in out
    assert "quoted, not run here" in out and "PIAA-MIR" in out and "unverified" in out


def test_calibrate_fit_and_score_with_a_profile_agree_with_the_api(run_copy, people_world, tmp_path, capsys):
    assert personalize("calibrate", run_copy, people_world, "--test-users", "3", "--shots", "10") == 0
    stored = json.loads((run_copy / "model.personal.json").read_text())
    assert stored["users"] == len(people_world["users"]) - 3 and stored["trait_matrix"] is not None
    me, fitted = tmp_path / "me.json", tmp_path / "fitted.json"
    assert main(["profile", "bfi10", "--answers", "1,5,3,2,4,4,2,5,1,5", "--output", str(me)]) == 0
    assert main(["personalize", "fit", "--checkpoint", str(run_copy), "--profile", str(me),
                 "--output", str(fitted), "--ratings", str(_my_ratings(people_world, tmp_path)),
                 "--workers", "0"]) == 0
    profile = json.loads(fitted.read_text())
    assert profile["fit"]["prior"] == "traits" and profile["traits"]["E"] == 0.75 and profile["model"]
    images = people_world["paths"][:6]
    for chosen in (me, fitted):  # a questionnaire profile (through the calibration) and a fitted one
        out = tmp_path / f"scores-{chosen.stem}.csv"
        assert main(["score", "--checkpoint", str(run_copy), *images, "--profile", str(chosen),
                     "--output", str(out), "--workers", "0", "--sort", "2"]) == 0
        assert "top 2 by personal score" in capsys.readouterr().out
        rows = {r["path"]: r for r in csv.DictReader(out.open())}
        assert list(next(iter(rows.values())))[-2:] == ["personal", "error"]
        for result in load_model(run_copy, workers=0).score(images, profile=chosen):
            assert float(rows[result.path]["personal"]) == result.personal
            assert float(rows[result.path]["score"]) == result.score
    personal = [r.personal for r in load_model(run_copy, workers=0).personalize(fitted).score(images)]
    generic = [r.score for r in load_model(run_copy, workers=0).score(images)]
    assert not np.allclose(personal, generic)


def test_bad_input_is_one_line_and_writes_nothing(run_copy, people_world, tmp_path, capsys):
    ratings = _my_ratings(people_world, tmp_path)
    out = tmp_path / "out.json"
    base = ["personalize", "fit", "--checkpoint", str(run_copy), "--output", str(out), "--workers", "0"]
    few = tmp_path / "few.csv"
    few.write_text("".join(ratings.read_text().splitlines(keepends=True)[:4]))
    assert main([*base, "--ratings", str(few)]) == 2
    assert "rate at least 5" in _one_error_line(capsys)
    missing = tmp_path / "missing.csv"
    missing.write_text(ratings.read_text() + "nowhere/x.jpg,3\n")
    assert main([*base, "--ratings", str(missing)]) == 2
    assert "do not exist" in _one_error_line(capsys)
    assert not out.exists()
    # a profile fitted for another model
    assert main([*base, "--ratings", str(ratings)]) == 0
    capsys.readouterr()
    foreign = json.loads(out.read_text())
    foreign["model"] = "sha256:0123456789abcdef"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(foreign))
    scores = tmp_path / "scores.csv"
    score = ["score", "--checkpoint", str(run_copy), people_world["paths"][0], "--output", str(scores),
             "--workers", "0", "--profile"]
    assert main([*score, str(other)]) == 2
    assert "another model" in _one_error_line(capsys)
    assert not scores.exists()
    # a questionnaire profile on a run without a calibration
    me = tmp_path / "me.json"
    assert main(["profile", "tipi", "--answers", "4,4,4,4,4,4,4,4,4,4", "--output", str(me)]) == 0
    capsys.readouterr()
    assert main([*score, str(me)]) == 2
    assert "personalize calibrate" in _one_error_line(capsys)
    assert not scores.exists()


@pytest.mark.parametrize("argv, message", [
    (["--shots", "0"], "positive"),
    (["--repeats", "0"], "at least 1"),
    (["--test-users", "999"], "choose 1.."),
])
def test_evaluate_usage_errors(run_copy, people_world, argv, message, capsys):
    assert personalize("evaluate", run_copy, people_world, *argv) == 2
    assert message in _one_error_line(capsys)
    assert not (run_copy / "model.personal-outputs.npz").exists()
