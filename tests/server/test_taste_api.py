"""`profile` on ``POST /score`` and ``GET``/``POST /profile``: the API side of the page's taste panel."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from persona_iaa import load_model
from persona_iaa.cli import main
from persona_iaa.personal import Calibration, Profile
from persona_iaa.personal.profile import COEFFICIENTS, calibration_path
from persona_iaa.server.app import create_app

from .test_api import files_of


def test_score_with_a_fitted_profile_adds_the_personal_score_of_the_python_api(
    app_factory, predictor, photo_files, broken_file, fitted_profile
):
    with TestClient(app_factory()) as client:
        response = client.post(
            "/score",
            files=files_of(photo_files[0], broken_file, photo_files[1]),
            data={"profile": fitted_profile.read_text()},
        )
        plain = client.post("/score", files=files_of(photo_files[0])).json()["results"][0]
    assert response.status_code == 200
    rows = response.json()["results"]
    direct = list(predictor.score([photo_files[0], photo_files[1]], profile=fitted_profile))
    for row, expected in zip([rows[0], rows[2]], direct):
        assert row["personal"] == pytest.approx(expected.personal, abs=1e-5)
        assert row["score"] == pytest.approx(expected.score, abs=1e-5)
        assert row["personal"] != pytest.approx(row["score"], abs=1e-3)
    assert rows[1]["error"] and "personal" not in rows[1]
    assert "personal" not in plain and list(rows[0])[-1] == "error"


@pytest.mark.parametrize(
    "profile, reason",
    [
        ("{not json", "profile: not JSON"),
        (json.dumps({"format": "something else"}), "not a persona-iaa profile"),
        (json.dumps({"format": "persona-iaa/profile", "traits": {"O": 3}}), "expected numbers"),
    ],
)
def test_a_malformed_profile_is_a_400_with_the_personal_modules_reason(
    app_factory, photo_files, profile, reason
):
    with TestClient(app_factory()) as client:
        response = client.post("/score", files=files_of(photo_files[0]), data={"profile": profile})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert reason in detail and "\n" not in detail


def test_a_profile_fitted_for_another_model_is_a_400(app_factory, photo_files):
    other = Profile(weights=np.ones(5), model="sha256:0000000000000000").to_dict()
    with TestClient(app_factory()) as client:
        response = client.post("/score", files=files_of(photo_files[0]), data={"profile": json.dumps(other)})
    assert response.status_code == 400 and "another model" in response.json()["detail"]


def test_post_profile_scores_answers_like_the_cli(app_factory, tmp_path, capsys):
    answers = [4, 3, 3, 4, 1, 2, 3, 4, 2, 5]
    with TestClient(app_factory()) as client:
        listed = client.get("/profile").json()["instruments"]
        made = client.post("/profile", json={"answers": answers}).json()
        tipi = client.post("/profile", json={"instrument": "tipi", "answers": [7] * 10})
        wrong = client.post("/profile", json={"answers": [6] + answers[1:]})
        short = client.post("/profile", json={"answers": answers[:9]})
    assert (
        main(
            [
                "profile",
                "bfi10",
                "--answers",
                ",".join(map(str, answers)),
                "--output",
                str(tmp_path / "p.json"),
            ]
        )
        == 0
    )
    assert made == json.loads((tmp_path / "p.json").read_text())
    assert tipi.status_code == 200 and tipi.json()["instrument"] == "tipi"
    assert wrong.status_code == 400 and "item 1 is 6" in wrong.json()["detail"]
    assert short.status_code == 400 and "10 items" in short.json()["detail"]
    assert {i["name"]: (i["low"], i["high"]) for i in listed} == {"bfi10": (1, 5), "tipi": (1, 7)}
    assert all(i["citation"] and i["items_published"] for i in listed)


def test_a_questionnaire_profile_scores_through_the_models_calibration(trained_run, photo_files, tmp_path):
    run = shutil.copytree(trained_run, tmp_path / "run")
    predictor = load_model(run, device="cpu", workers=0)
    rng = np.random.default_rng(0)
    Calibration(
        np.r_[1.0, rng.normal(0, 0.3, 5)],
        rng.normal(0, 0.3, (len(COEFFICIENTS), 5)),
        1.0,
        predictor.fingerprint,
    ).save(calibration_path(predictor.weights_file))
    with TestClient(create_app(predictor)) as client:
        profile = client.post("/profile", json={"answers": [5, 1, 2, 4, 1, 3, 4, 2, 5, 5]}).json()
        rows = client.post(
            "/score", files=files_of(*photo_files[:2]), data={"profile": json.dumps(profile)}
        ).json()["results"]
    direct = list(predictor.score(photo_files[:2], profile=profile))
    assert [r["personal"] for r in rows] == pytest.approx([d.personal for d in direct], abs=1e-5)


def test_the_docs_describe_profile_on_score_and_the_profile_endpoint(app_factory):
    with TestClient(app_factory()) as client:
        spec = client.get("/openapi.json").json()
    score_form = spec["paths"]["/score"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "profile" in score_form["properties"] and "400" in spec["paths"]["/score"]["post"]["responses"]
    assert {"get", "post"} <= set(spec["paths"]["/profile"])
