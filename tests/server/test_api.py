"""The HTTP API: scores, explanations, limits (413, 503, 504), batching, API key, CORS, logs and metrics."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from persona_iaa import load_model
from persona_iaa.cli import main
from persona_iaa.constants import TRAITS
from persona_iaa.server import ServerLimits
from persona_iaa.server.app import create_app
from persona_iaa.server.limits import check_exposure, is_loopback

from .conftest import Gate, metric, wait_until


def files_of(*paths):
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_score_matches_the_python_api_and_isolates_bad_files(
    app_factory, predictor, photo_files, broken_file
):
    with TestClient(app_factory()) as client:
        response = client.post("/score", files=files_of(photo_files[0], broken_file, photo_files[1]))
    assert response.status_code == 200
    body = response.json()
    assert [r["filename"] for r in body["results"]] == ["photo_0.jpg", "broken.jpg", "photo_1.jpg"]
    assert body["results"][1]["error"] and "score" not in body["results"][1]
    direct = list(predictor.score([photo_files[0], photo_files[1]]))
    for row, expected in zip([body["results"][0], body["results"][2]], direct):
        assert row["error"] is None
        assert row["score"] == pytest.approx(expected.score, abs=1e-5)
        assert [row[t] for t in TRAITS] == pytest.approx(list(expected.personality), abs=1e-5)
    assert body["personality"] is True and "tiny" in body["warning"]


def test_health_says_what_the_model_is_and_the_limits(app_factory):
    with TestClient(app_factory(limits=ServerLimits(max_files=7))) as client:
        body = client.get("/health").json()
    assert body["model"]["backbone"] == "tiny" and body["personality"] is True
    assert body["limits"]["max_files"] == 7 and "test-size model" in body["warning"]


def test_a_model_without_the_personality_task_gives_null_traits_and_only_the_score_map(
    traitless_run, photo_files
):
    app = create_app(load_model(traitless_run, device="cpu", workers=0))
    with TestClient(app) as client:
        (row,) = client.post("/score", files=files_of(photo_files[0])).json()["results"]
        explained = client.post(
            "/explain?format=json", files={"file": ("a.jpg", photo_files[0].read_bytes())}
        ).json()
    assert row["score"] is not None and all(row[t] is None for t in TRAITS)
    assert list(explained["maps"]) == ["score"] and explained["traits"] is None


def test_explain_json_gives_overlays_at_the_photo_aspect_ratio(app_factory, photo_files):
    portrait = photo_files[1]  # 200 x 300
    with TestClient(app_factory()) as client:
        response = client.post("/explain?format=json", files={"file": (portrait.name, portrait.read_bytes())})
    assert response.status_code == 200
    body = response.json()
    assert list(body["maps"]) == ["score", *TRAITS]
    for entry in body["maps"].values():
        with Image.open(io.BytesIO(base64.b64decode(entry["png"]))) as overlay:
            assert overlay.size == (200, 300)
        assert isinstance(entry["flat"], bool)
    assert len(body["colour_scale"]) > 2 and body["traits"].keys() == set(TRAITS)


def test_explain_png_is_the_figure_and_a_bad_file_is_422(app_factory, photo_files, broken_file):
    with TestClient(app_factory()) as client:
        figure = client.post("/explain", files={"file": ("a.jpg", photo_files[0].read_bytes())})
        bad = client.post("/explain?format=png", files={"file": ("b.jpg", broken_file.read_bytes())})
        unknown = client.post("/explain?format=gif", files={"file": ("a.jpg", photo_files[0].read_bytes())})
    assert figure.status_code == 200 and figure.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(figure.content)) as drawn:
        assert drawn.width > 600
    assert bad.status_code == 422 and "<bytes>" not in bad.json()["detail"]
    assert unknown.status_code == 422


@pytest.mark.parametrize(
    "limits, files, why",
    [
        (ServerLimits(max_file_bytes=2_000, max_request_bytes=10_000_000), 1, "larger than 2,000 bytes"),
        (ServerLimits(max_files=2), 3, "too many files"),
        (ServerLimits(max_file_bytes=50_000, max_request_bytes=60_000), 4, "request larger than"),
    ],
)
def test_each_size_limit_answers_413(app_factory, photo_files, limits, files, why):
    big = [("files", (f"f{i}.bin", bytes([i]) * 25_000, "image/jpeg")) for i in range(files)]
    with TestClient(app_factory(limits=limits)) as client:
        response = client.post("/score", files=big)
    assert response.status_code == 413 and why in response.json()["detail"]


def test_a_streamed_request_is_refused_as_soon_as_it_passes_the_limit():
    """Without Content-Length the body is counted while it streams; reading stops at the limit, so a
    request never occupies more than the limit (issue: bounded request memory)."""
    import asyncio

    from starlette.requests import Request

    from persona_iaa.server.uploads import UploadRefused, read_uploads

    boundary = "xyz"
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n'.encode()
    ]
    chunks += [b"\0" * 10_000] * 200 + [f"\r\n--{boundary}--\r\n".encode()]
    received = []

    async def receive():
        received.append(1)
        return {
            "type": "http.request",
            "body": chunks[len(received) - 1],
            "more_body": len(received) < len(chunks),
        }

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/score",
        "query_string": b"",
        "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
    }
    limits = ServerLimits(max_file_bytes=50_000, max_request_bytes=50_000)
    with pytest.raises(UploadRefused) as refused:
        asyncio.run(read_uploads(Request(scope, receive), limits, "files"))
    assert refused.value.status == 413
    assert len(received) < 10  # the rest of the 2 MB body was never read


def test_no_files_and_a_non_form_body_are_422(app_factory):
    with TestClient(app_factory()) as client:
        assert client.post("/score").status_code == 422
        assert client.post("/score", files={"other": ("a.txt", b"x")}).status_code == 422


def test_a_full_queue_answers_503_with_retry_after(app_factory, photo_files, live_server):
    app = app_factory(limits=ServerLimits(max_in_flight=1, max_queue=1, retry_after_s=3))
    gate = Gate(app)
    with live_server(app) as server, concurrent.futures.ThreadPoolExecutor(2) as pool:
        post = lambda: httpx.post(server.url + "/score", files=files_of(photo_files[0]), timeout=120)  # noqa: E731
        first, second = pool.submit(post), pool.submit(post)
        wait_until(
            lambda: metric(httpx.get(server.url + "/metrics").text, "persona_iaa_requests_queued") == 1,
            what="one request in flight and one queued",
        )
        third = post()
        gate.release()
        assert third.status_code == 503 and third.headers["retry-after"] == "3"
        assert first.result().status_code == second.result().status_code == 200
        assert metric(httpx.get(server.url + "/metrics").text, "persona_iaa_requests_rejected_total") == 1


def test_a_slow_request_answers_504(app_factory, photo_files):
    app = app_factory(limits=ServerLimits(timeout_s=0.3))
    gate = Gate(app)
    with TestClient(app) as client:
        response = client.post("/score", files=files_of(photo_files[0]))
        gate.release()
    assert response.status_code == 504 and "longer than 0.3 s" in response.json()["detail"]


def test_concurrent_requests_share_one_model_call(app_factory, photo_files, live_server):
    app = app_factory()
    gate = Gate(app)
    threads = app.state.service.batcher.threads
    with live_server(app) as server, concurrent.futures.ThreadPoolExecutor(threads + 3) as pool:
        post = lambda p: httpx.post(server.url + "/score", files=files_of(p), timeout=120)  # noqa: E731
        busy = []
        for k in range(threads):  # one request per model thread, each held inside its model call
            busy.append(pool.submit(post, photo_files[k % len(photo_files)]))
            wait_until(lambda k=k: len(gate.batches) == k + 1, what="a model thread busy")
        rest = [pool.submit(post, p) for p in photo_files[:3]]
        wait_until(lambda: app.state.service.batcher.depth == 3, what="three images queued behind them")
        gate.release()
        assert all(f.result().status_code == 200 for f in [*busy, *rest])
    assert gate.batches == [1] * threads + [3]  # three requests, one model call


def test_graceful_shutdown_finishes_the_request_in_flight(app_factory, photo_files, live_server):
    import signal

    app = app_factory()
    gate = Gate(app)
    with live_server(app) as server, concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            httpx.post, server.url + "/score", files=files_of(*photo_files[:3]), timeout=120
        )
        wait_until(lambda: gate.batches, what="the model call")
        server.server.handle_exit(signal.SIGTERM, None)  # what uvicorn does on SIGTERM
        gate.release()
        response = pending.result()
        server.thread.join(timeout=60)
        assert not server.thread.is_alive()
    assert response.status_code == 200 and len(response.json()["results"]) == 3


def test_api_key_is_required_where_set_and_compared_in_constant_time(app_factory, photo_files):
    with TestClient(app_factory(api_key="s3cret")) as client:
        assert client.get("/health").status_code == 200 and client.get("/").status_code == 200
        assert client.post("/score", files=files_of(photo_files[0])).status_code == 401
        assert client.get("/metrics").status_code == 401
        assert (
            client.post("/score", files=files_of(photo_files[0]), headers={"X-API-Key": "wrong"}).status_code
            == 401
        )
        assert (
            client.post("/score", files=files_of(photo_files[0]), headers={"X-API-Key": "s3cret"}).status_code
            == 200
        )
        assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_cors_is_off_unless_asked_for(app_factory):
    origin = {"Origin": "https://example.org"}
    with TestClient(app_factory()) as client:
        assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    with TestClient(app_factory(cors_origins=["https://example.org"])) as client:
        assert (
            client.get("/health", headers=origin).headers["access-control-allow-origin"]
            == "https://example.org"
        )


def test_binding_beyond_loopback_needs_a_key_or_insecure(trained_run, capsys):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    check_exposure("0.0.0.0", "key", False)
    check_exposure("0.0.0.0", None, True)
    assert main(["serve", "--checkpoint", str(trained_run), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to listen on 0.0.0.0 without an API key") and err.count("\n") == 1


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--port", "99999"], "--port"),
        (["--max-upload-mb", "0"], "above 0"),
        (["--max-files", "-1"], "must be positive"),
        (["--timeout", "0"], "must be positive"),
    ],
)
def test_bad_serve_flags_are_one_line_errors(trained_run, capsys, flags, message):
    assert main(["serve", "--checkpoint", str(trained_run), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_access_log_and_metrics_record_each_request(app_factory, photo_files, caplog):
    with TestClient(app_factory()) as client, caplog.at_level(logging.INFO, "persona_iaa.server.access"):
        response = client.post("/score", files=files_of(*photo_files[:2]), headers={"X-Request-ID": "abc-1"})
        text = client.get("/metrics").text
    entry = json.loads([r.getMessage() for r in caplog.records if "abc-1" in r.getMessage()][0])
    assert response.headers["x-request-id"] == "abc-1"
    assert entry["status"] == 200 and entry["files"] == 2 and entry["path"] == "/score" and entry["ms"] > 0
    assert 'persona_iaa_http_requests_total{path="/score",status="200"} 1.0' in text
    assert metric(text, "persona_iaa_batch_size_sum") == 2
    assert "persona_iaa_http_request_seconds_bucket" in text and "persona_iaa_requests_queued" in text


def test_page_and_docs_load_nothing_from_outside(app_factory):
    """Every asset ships in the package: no CDN, no web fonts."""
    import re

    with TestClient(app_factory()) as client:
        pages = {
            path: client.get(path) for path in ("/", "/docs", "/redoc", "/static/app.js", "/static/app.css")
        }
        assert all(r.status_code == 200 for r in pages.values())
        for path in ("/", "/docs", "/redoc"):
            for asset in re.findall(r'(?:src|href)="([^"]+)"', pages[path].text):
                assert not asset.startswith(("http:", "https:", "//")), f"{path} loads {asset}"
                assert client.get("/" + asset.lstrip("/")).status_code == 200, asset
        spec = client.get("/openapi.json").json()
    assert (
        "cdn." not in pages["/docs"].text + pages["/redoc"].text
        and "fonts.googleapis" not in pages["/redoc"].text
    )
    assert {"/score", "/explain", "/health", "/metrics"} <= set(spec["paths"])
    assert spec["paths"]["/score"]["post"]["responses"]["200"]["content"]["application/json"]["example"]
