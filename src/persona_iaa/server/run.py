"""``persona-iaa serve``: the app under uvicorn, with a structured access log and graceful shutdown.

On SIGTERM or Ctrl-C uvicorn stops accepting connections and lets the requests in flight finish (up to
the request timeout); the app's lifespan then lets the images already queued for the model finish too.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
import webbrowser
from typing import Any, Optional, Sequence

from ..extras import require_extra
from .limits import ServerLimits, check_exposure, check_port, is_loopback

log = logging.getLogger(__name__)
#: Environment variable read when no ``--api-key`` is given.
API_KEY_ENV = "PERSONA_IAA_API_KEY"


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus our loggers: the access log as one JSON line per request on stdout."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["plain"] = {"format": "%(message)s"}
    config["handlers"]["access_json"] = {
        "class": "logging.StreamHandler",
        "formatter": "plain",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["persona_iaa.server.access"] = {
        "handlers": ["access_json"],
        "level": "INFO",
        "propagate": False,
    }
    config["loggers"]["persona_iaa"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def _open_when_ready(server: Any, url: str) -> None:
    def wait_and_open() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.1)
        if server.started:
            webbrowser.open(url)

    threading.Thread(target=wait_and_open, daemon=True).start()


def serve(
    checkpoint: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    max_upload_bytes: Optional[int] = None,
    limits: Optional[ServerLimits] = None,
    api_key: Optional[str] = None,
    insecure: bool = False,
    cors_origins: Sequence[str] = (),
    open_browser: bool = False,
) -> None:
    """Serve the model in ``checkpoint`` until SIGTERM or Ctrl-C.

    Without ``api_key``, ``$PERSONA_IAA_API_KEY`` is used; a non-loopback ``host`` without a key is
    refused unless ``insecure``.
    """
    from .. import load_model
    from .app import create_app

    uvicorn = require_extra("uvicorn", "serve", "serving")
    check_port(port)
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    check_exposure(host, api_key, insecure)
    if limits is None:
        limits = ServerLimits(**({"max_file_bytes": max_upload_bytes} if max_upload_bytes else {}))
    # Uploads arrive in memory: decoding runs in the server's threads, not in worker processes.
    predictor = load_model(checkpoint, device=device, workers=0)
    app = create_app(predictor, limits=limits, api_key=api_key, cors_origins=cors_origins)
    # Keep-alive of 30 s: clients that reuse connections under load do not race the server closing them.
    config = uvicorn.Config(
        app,
        timeout_keep_alive=30,
        host=host,
        port=port,
        log_config=log_config(),
        access_log=False,
        timeout_graceful_shutdown=int(limits.timeout_s) + 1,
        server_header=False,
    )
    server = uvicorn.Server(config)
    url = page_url(host, port)
    caveat = app.state.service.caveat
    if caveat:
        log.warning("%s", caveat)
    if not is_loopback(host) and not api_key:
        log.warning("serving %s without an API key (--insecure): anyone who can reach it can use it", host)
    log.info("the page: %s   the API: %sdocs", url, url)
    if open_browser:
        _open_when_ready(server, url)
    server.run()
