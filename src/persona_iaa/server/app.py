"""The FastAPI app: the page at ``/``, ``POST /score``, ``POST /explain``, ``/health``, ``/metrics``, docs.

Every request passes the same gate before any byte of its body is read: the API key (when one is set),
then admission (``max_in_flight`` at once, ``max_queue`` waiting, 503 with ``Retry-After`` beyond), then
the upload reader's size and count limits (413), all under a per-request timeout (504). Each request
is logged as one JSON line on the ``persona_iaa.server.access`` logger and counted in ``/metrics``.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations at runtime.
import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Optional, Sequence

from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import ImageError, PersonaIAAError, first_line
from .limits import DEFAULT_MAX_UPLOAD_BYTES, ServerLimits
from .metrics import ServerMetrics
from .service import ScoringService
from .uploads import UploadRefused, close_all, multipart_schema, read_uploads

access_log = logging.getLogger("persona_iaa.server.access")
#: Endpoints that need the API key when one is set (the page, docs and /health stay open).
PROTECTED = ("/score", "/explain", "/metrics")
API_KEY_HEADER = "X-API-Key"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DESCRIPTION = """Personality-driven image aesthetic assessment: score photos, see who would like them and why.

* `POST /score` with one or more photos in the form field `files` gives, per photo, the final score
  (`score`), the aesthetic score `aesthetic` (s_a, 0-1) and the predicted Big-Five traits of the people who
  like it (`O C E A N`, -1..1; null for a model trained without the personality task), or a one-line `error`.
  `curl -F files=@a.jpg -F files=@b.jpg http://127.0.0.1:8000/score`
* `POST /score` with a `profile` field as well (the JSON written by `persona-iaa profile` or
  `personalize fit`) adds each photo's `personal` score for that person; a malformed profile, or one
  fitted for another model, is a 400 with the reason.
  `curl -F files=@a.jpg -F 'profile=<me.json' http://127.0.0.1:8000/score`
* `GET /profile` lists the questionnaires (BFI-10, TIPI: scale, reversed items, where the item texts are
  published); `POST /profile` turns ten answers into a profile, scored as `persona-iaa profile` does.
  `curl -H 'Content-Type: application/json' -d '{"instrument": "bfi10", "answers": [3,4,2,5,1,3,4,2,5,1]}'
  http://127.0.0.1:8000/profile`
* `POST /explain?format=png` with one photo in `file` gives the Grad-CAM figure of `persona-iaa explain`;
  `format=json` gives the scores and one overlay PNG per map, base64-encoded.
  `curl -F file=@a.jpg 'http://127.0.0.1:8000/explain?format=png' -o heat.png`
* Limits answer 413 (file, files per request, request size), 503 with `Retry-After` (queue full) and
  504 (timeout). With an API key, send it as `X-API-Key: KEY` or `Authorization: Bearer KEY`.
"""


SCORE_EXAMPLE = {
    "results": [
        {
            "filename": "a.jpg",
            "score": 0.6132,
            "aesthetic": 0.5874,
            "O": 0.21,
            "C": -0.05,
            "E": 0.12,
            "A": 0.08,
            "N": -0.17,
            "personal": 0.6521,
            "error": None,
        },
        {"filename": "notes.txt", "error": "not an image, or a format Pillow cannot read"},
    ],
    "personality": True,
    "warning": None,
}
HEALTH_EXAMPLE = {
    "status": "ok",
    "model": {"backbone": "densenet121", "hidden_dims": [1024, 512]},
    "traits": ["O", "C", "E", "A", "N"],
    "personality": True,
    "warning": None,
    "limits": {
        "max_file_bytes": 33554432,
        "max_files": 100,
        "max_request_bytes": 268435456,
        "timeout_s": 120.0,
    },
}


def _example(example: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {"application/json": {"example": example}}}}


def static_dir() -> Path:
    return Path(str(resources.files("persona_iaa.server") / "static"))


class Admission:
    """At most ``max_in_flight`` requests at work and ``max_queue`` waiting; beyond, :meth:`enter` says no."""

    def __init__(self, limits: ServerLimits, metrics: ServerMetrics):
        self.limits = limits
        self.metrics = metrics
        self.admitted = 0
        self._places: Optional[asyncio.Semaphore] = None

    @contextlib.asynccontextmanager
    async def enter(self) -> AsyncIterator[bool]:
        """Yields False at once when the queue is full; else waits for a place and yields True."""
        if self.admitted >= self.limits.max_admitted:
            self.metrics.rejected.inc()
            yield False
            return
        if self._places is None:  # created inside the server's event loop
            self._places = asyncio.Semaphore(self.limits.max_in_flight)
        self.admitted += 1
        self.metrics.queued.inc()
        queued = True
        try:
            async with self._places:
                self.metrics.queued.dec()
                queued = False
                with self.metrics.in_flight.track_inprogress():
                    yield True
        finally:
            self.admitted -= 1
            if queued:
                self.metrics.queued.dec()


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers or None)


def _authorised(request: Request, api_key: Optional[str]) -> bool:
    if not api_key or not request.url.path.startswith(PROTECTED):
        return True
    given = request.headers.get(API_KEY_HEADER) or ""
    bearer = request.headers.get("authorization", "")
    if not given and bearer.lower().startswith("bearer "):
        given = bearer[7:].strip()
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), api_key.encode("utf-8"))


def _install_gate(app: FastAPI, metrics: ServerMetrics, api_key: Optional[str]) -> None:
    """Request ids, the API key check, the access log and the request metrics, for every request."""

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        given_id = request.headers.get("x-request-id", "")
        request.state.request_id = given_id if _REQUEST_ID.match(given_id) else uuid.uuid4().hex[:16]
        request.state.files = 0
        if not _authorised(request, api_key):
            response: Response = _error(
                401,
                f"missing or wrong API key: send it as {API_KEY_HEADER}: KEY",
                **{"WWW-Authenticate": "Bearer"},
            )
        else:
            response = await call_next(request)
        ms = (time.perf_counter() - started) * 1000
        path = (
            request.url.path
            if request.url.path in ("/score", "/explain", "/health", "/metrics", "/")
            else "other"
        )
        metrics.observe(path, response.status_code, ms / 1000)
        response.headers["X-Request-ID"] = request.state.request_id
        access_log.info(
            json.dumps(
                {
                    "request_id": request.state.request_id,
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "files": request.state.files,
                    "ms": round(ms, 1),
                    "client": request.client.host if request.client else None,
                }
            )
        )
        return response


def _install_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from the package's own copies: the docs work without internet."""
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="openapi.json",
            title="persona-iaa API",
            swagger_js_url="static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="static/favicon.svg",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return get_redoc_html(
            openapi_url="openapi.json",
            title="persona-iaa API",
            redoc_js_url="static/vendor/redoc/redoc.standalone.js",
            redoc_favicon_url="static/favicon.svg",
            with_google_fonts=False,
        )

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(
    predictor: Any,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    batch_size: Optional[int] = None,
    limits: Optional[ServerLimits] = None,
    api_key: Optional[str] = None,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app serving ``predictor`` (a :func:`persona_iaa.load_model` result).

    ``limits`` defaults to :class:`ServerLimits` with ``max_upload_bytes`` per file; ``batch_size`` caps
    the images of one model call (default: the predictor's). CORS is off unless ``cors_origins`` names
    the origins (``*`` for any) allowed to call the API from another site's pages.
    """
    limits = limits or ServerLimits(
        max_file_bytes=max_upload_bytes,
        max_request_bytes=max(ServerLimits.max_request_bytes, max_upload_bytes),
    )
    metrics = ServerMetrics()
    service = ScoringService(predictor, limits, metrics)
    if batch_size:
        service.batcher.batch_size = batch_size
    admission = Admission(limits, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:  # uvicorn has let the requests in flight finish; now the queued images
            service.stop()

    app = FastAPI(
        title="persona-iaa",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service, app.state.limits, app.state.metrics = service, limits, metrics
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", API_KEY_HEADER, "Authorization", "X-Request-ID"],
        )
    _install_gate(app, metrics, api_key)
    _install_docs(app)
    _install_endpoints(app, service, admission, limits, metrics)
    return app


async def _guarded(
    request: Request, admission: Admission, limits: ServerLimits, field: str, work: Any
) -> Response:
    """Admit, read the uploads, run ``work(uploads)`` under the timeout, and answer errors plainly."""
    async with admission.enter() as admitted:
        if not admitted:
            return _error(
                503,
                "server busy: too many requests waiting; retry shortly",
                **{"Retry-After": str(limits.retry_after_s)},
            )
        uploads: list = []

        async def handle() -> Response:
            request.app.state.service.start()  # no-op once the lifespan started it
            try:
                files, request.state.fields = await read_uploads(request, limits, field)
                uploads.extend(files)
            except UploadRefused as exc:
                return _error(exc.status, str(exc))
            request.state.files = len(uploads)
            if not uploads:
                return _error(422, f"no files: send one or more photos in the form field {field!r}")
            return await work(uploads)

        try:
            return await asyncio.wait_for(handle(), limits.timeout_s)
        except asyncio.TimeoutError:
            return _error(
                504, f"request took longer than {limits.timeout_s:g} s; send fewer photos per request"
            )
        finally:
            close_all(uploads)


def _install_score(app: FastAPI, service: ScoringService, admission: Admission, limits: ServerLimits) -> None:
    """``POST /score``: photos in ``files``, optionally a person's ``profile`` for ``personal`` scores."""

    @app.post(
        "/score",
        summary="Score one or more photos",
        openapi_extra=multipart_schema(
            "files",
            True,
            "one or more photos (JPEG, PNG, WebP, TIFF, ...), and optionally a person's profile",
            profile={
                "type": "string",
                "description": "optional: a profile's JSON text (`persona-iaa profile`, `personalize fit`); "
                "each result then also carries `personal`",
            },
        ),
        responses={
            **_example(SCORE_EXAMPLE, "one result per photo, in upload order"),
            400: {"description": "the profile is malformed or was fitted for another model"},
            413: {"description": "a file, the number of files or the request is over a limit"},
            503: {"description": "queue full: retry after the Retry-After seconds"},
            504: {"description": "the request took longer than the server's timeout"},
        },
    )
    async def score(request: Request) -> Any:
        async def work(uploads: list) -> Any:
            profile = request.state.fields.get("profile")
            try:
                person = service.personal_scorer(profile) if profile else None
            except PersonaIAAError as exc:
                return _error(400, first_line(exc))
            results = await service.score(uploads, person)
            return {"results": results, "personality": service.personality, "warning": service.caveat}

        return await _guarded(request, admission, limits, "files", work)


def _install_endpoints(
    app: FastAPI, service: ScoringService, admission: Admission, limits: ServerLimits, metrics: ServerMetrics
) -> None:
    @app.get(
        "/health",
        summary="Model, traits, limits, and a warning for a demo model",
        responses=_example(HEALTH_EXAMPLE, "what the server runs and accepts"),
    )
    def health() -> dict[str, Any]:
        return service.info()

    @app.get("/metrics", summary="Prometheus metrics (text format)", response_class=Response)
    def prometheus() -> Response:
        return Response(metrics.render(service.batcher.depth), media_type=metrics.content_type)

    _install_score(app, service, admission, limits)

    _install_profile(app)

    @app.post(
        "/explain",
        summary="Grad-CAM heat maps of one photo",
        response_class=Response,
        openapi_extra=multipart_schema("file", False, "one photo"),
        responses={
            200: {
                "content": {"image/png": {}, "application/json": {}},
                "description": "the figure (png) or the scores and base64 overlays (json)",
            }
        },
    )
    async def explain(
        request: Request,
        format: str = Query("png", pattern="^(png|json)$", description="png: the figure; json: base64 maps"),
    ) -> Any:
        async def work(uploads: list) -> Response:
            try:
                answer = await service.explain(uploads[0], format)
            except ImageError as exc:
                return _error(422, str(exc))
            if format == "json":
                return JSONResponse({**answer, "warning": service.caveat})
            return Response(answer, media_type="image/png")

        return await _guarded(request, admission, limits, "file", work)


PROFILE_EXAMPLE = {
    "format": "persona-iaa/profile",
    "traits": {"O": 0.75, "C": 0.25, "E": -0.5, "A": 0.0, "N": -0.25},
    "instrument": "bfi10",
    "raw": {"E": 2.0, "A": 3.0, "C": 3.5, "N": 2.5, "O": 4.5},
    "answers": [4, 3, 3, 4, 1, 2, 3, 4, 2, 5],
}


class ProfileAnswers(BaseModel):
    """The body of ``POST /profile``."""

    answers: list[int] = Field(
        description="the ten answers, item 1 first", examples=[[4, 3, 3, 4, 1, 2, 3, 4, 2, 5]]
    )
    instrument: str = Field("bfi10", description="bfi10 (answers 1-5) or tipi (answers 1-7)")


def _instrument_info(name: str) -> dict[str, Any]:
    from ..personal.questionnaires import instrument

    tool = instrument(name)
    return {
        "name": tool.name,
        "title": tool.title,
        "low": tool.low,
        "high": tool.high,
        "items": 10,
        "reversed_items": tool.reversed_items(),
        "citation": tool.citation,
        "items_published": tool.items_published,
    }


def _install_profile(app: FastAPI) -> None:
    """``GET /profile``: the questionnaires; ``POST /profile``: answers -> a profile, as the CLI makes."""
    from ..personal.questionnaires import INSTRUMENTS, profile_from_answers

    @app.get("/profile", summary="The questionnaires a profile can be made from (BFI-10, TIPI)")
    def questionnaires() -> dict[str, Any]:
        return {"instruments": [_instrument_info(name) for name in INSTRUMENTS.names()]}

    @app.post(
        "/profile",
        summary="Ten questionnaire answers -> a profile (send it back as `profile` on /score)",
        responses={
            **_example(PROFILE_EXAMPLE, "the profile `persona-iaa profile` writes for these answers"),
            400: {"description": "not ten answers, or an answer outside the instrument's scale"},
        },
    )
    def make_profile(body: ProfileAnswers) -> Any:
        try:
            return profile_from_answers(body.instrument, body.answers).to_dict()
        except PersonaIAAError as exc:
            return _error(400, first_line(exc))
