"""The HTTP server of persona-iaa: the web page, the scoring API, its limits and its metrics.

``create_app(predictor)`` builds the FastAPI app; ``serve(run_dir)`` runs it under uvicorn.
"""

from .limits import DEFAULT_MAX_UPLOAD_BYTES, ServerLimits

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "ServerLimits", "create_app", "serve"]


def __getattr__(name: str):
    # FastAPI and uvicorn load on first use: `persona-iaa score` never pays for them.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .run import serve

        return serve
    raise AttributeError(name)
