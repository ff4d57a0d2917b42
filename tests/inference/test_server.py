"""The HTTP service scores uploads and isolates bad files."""
from __future__ import annotations

import io

import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from persona_iaa import load_model  # noqa: E402
from persona_iaa.inference.server import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(trained_run):
    return TestClient(create_app(load_model(trained_run, device="cpu", workers=0), max_upload_bytes=200_000))


def jpeg_bytes(colour=(120, 80, 40), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_health_names_the_model(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["model"]["backbone"] == "tiny"
    assert set(body["inter_task_weights"]) == set("OCEAN")


def test_scores_uploads_in_order_with_bad_files_isolated(client, trained_run, tmp_path):
    good = jpeg_bytes()
    response = client.post("/score", files=[
        ("files", ("a.jpg", good, "image/jpeg")),
        ("files", ("broken.jpg", b"\xff\xd8 not really", "image/jpeg")),
        ("files", ("empty.png", b"", "image/png")),
        ("files", ("b.jpg", jpeg_bytes((10, 200, 30)), "image/jpeg")),
    ])
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["a.jpg", "broken.jpg", "empty.png", "b.jpg"]
    assert results[1]["error"] and results[2]["error"] and "score" not in results[1]
    assert results[0]["error"] is None and 0 < results[0]["aesthetic"] < 1
    assert all(-1 < results[3][t] < 1 for t in "OCEAN")
    # the same photo scored through the Python API gives the same numbers
    path = tmp_path / "a.jpg"
    path.write_bytes(good)
    (direct,) = load_model(trained_run, device="cpu").score([path])
    assert results[0]["score"] == pytest.approx(direct.score, abs=1e-5)


def test_oversized_upload_is_refused(client):
    response = client.post("/score", files=[("files", ("big.bmp", b"x" * 300_000, "image/bmp"))])
    assert response.status_code == 413


def test_request_without_files_is_a_validation_error(client):
    assert client.post("/score").status_code == 422
