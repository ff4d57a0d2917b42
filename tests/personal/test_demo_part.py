"""The demo's personal part runs on a trained run, and the people world's rule is what it says."""
from __future__ import annotations

import numpy as np

from persona_iaa.personal.demo import contrasting_pair, run_personal_demo
from persona_iaa.personal.world import person_rating


def test_personal_demo_reports_two_people_and_the_protocol(run_copy, tmp_path, capsys):
    result = run_personal_demo(tmp_path / "people", run_copy, test_users=4, repeats=2,
                               world_size=dict(n_images=150, n_people=16, ratings_per_person=120, size=40))
    out = result["report"]
    assert capsys.readouterr().out == ""  # the library reports; the CLI prints
    assert out.count("ranking vs the generic one") == 2 and "their top 3" in out
    assert "100 ratings (few-shot)" in out and "quoted, not run here" in out and "not evidence" in out
    assert set(result["protocol"]["results"]) == {"generic", "traits", "shots_10", "shots_100"}
    assert len(result["ranking_vs_generic"]) == 2 and (run_copy / "model.personal.json").is_file()
    assert "stored calibration" in result["protocol"]["protocol"]["calibration"]  # calibrated once, reused


def test_people_rate_photos_liked_by_people_like_them():
    rng = np.random.default_rng(0)
    likers = np.array([1.0, 0.0, 0.0, 0.0, 0.0])  # photos liked by open people
    open_person, closed_person = np.eye(5)[0], -np.eye(5)[0]
    rate = [np.mean([person_rating(0.5, likers, t, 0.0, 1.0, rng) for _ in range(50)])
            for t in (open_person, closed_person)]
    assert rate[0] > rate[1] + 0.5
    assert all(v in np.arange(1, 5.5, 0.5) for v in [person_rating(0.5, likers, open_person, 0, 1, rng)])


def test_contrasting_pair_is_the_furthest_apart():
    traits = np.array([[0] * 5, [1] * 5, [-1] * 5, [0.5, 0, 0, 0, 0]], dtype=float)
    assert contrasting_pair(traits, [0, 1, 2, 3]) == (1, 2)
