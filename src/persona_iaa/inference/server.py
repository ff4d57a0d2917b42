"""An HTTP scoring service (FastAPI): upload photos, get scores and liker traits back as JSON.

Uploads go to the scoring engine as bytes, decoded like files on disk; a bad file becomes an error
entry in the response and never fails the other files of the request.
"""
# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at runtime and
# the fastapi names are imported inside create_app, so they must be real objects, not strings.
import threading
from typing import Any

from ..errors import PersonaIAAError

#: Largest accepted upload per file; larger files are refused with HTTP 413 before decoding.
DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024


def create_app(predictor, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, batch_size: int = 16):
    """A FastAPI app serving ``predictor`` (a :func:`persona_iaa.load_model` result)."""
    try:
        from fastapi import FastAPI, File, HTTPException, UploadFile
    except ImportError:
        raise PersonaIAAError("serving needs the optional extra: pip install 'persona-iaa[serve]'") from None
    from .. import __version__
    from ..constants import TRAITS

    app = FastAPI(title="persona-iaa", version=__version__,
                  description="Personality-driven image aesthetic assessment: score photos, see who would like them.")
    model_lock = threading.Lock()  # one inference at a time: the model already uses every core

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": predictor.meta.get("model"), "traits": list(TRAITS),
                "inter_task_weights": predictor.inter_task_weights}

    @app.post("/score")
    def score(files: list[UploadFile] = File(..., description="one or more images")) -> dict[str, Any]:
        uploads = []
        for upload in files:
            data = upload.file.read(max_upload_bytes + 1)
            if len(data) > max_upload_bytes:
                raise HTTPException(413, f"{upload.filename}: larger than {max_upload_bytes:,} bytes")
            uploads.append(data)
        with model_lock:
            scored = list(predictor.score(uploads, batch_size=batch_size))
        results = []
        for upload, result in zip(files, scored):
            if result.ok:
                row = result.as_row()
                row.pop("path")
                results.append({"filename": upload.filename, **row})
            else:
                results.append({"filename": upload.filename, "error": result.error.removeprefix("<bytes>: ")})
        return {"results": results}

    return app


def serve(checkpoint: str, *, host: str = "127.0.0.1", port: int = 8000, device: str = "auto",
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
    from .. import load_model

    try:
        import uvicorn
    except ImportError:
        raise PersonaIAAError("serving needs the optional extra: pip install 'persona-iaa[serve]'") from None
    # Uploads arrive decoded in memory: no decoding worker processes to feed.
    app = create_app(load_model(checkpoint, device=device, workers=0), max_upload_bytes=max_upload_bytes)
    uvicorn.run(app, host=host, port=port)
