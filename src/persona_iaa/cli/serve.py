"""``persona-iaa serve``: the web page at ``/`` and the HTTP API (``/docs``) for a trained model."""

from __future__ import annotations

import argparse
import math

from . import EXIT_OK, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..server.limits import MIB, ServerLimits

    d, mib = ServerLimits(), MIB
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: this machine only; others need --api-key or --insecure)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port, 1 to 65535 (0: any free port)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=d.max_file_bytes / mib,
        help="largest accepted file (HTTP 413 above; default %(default)g)",
    )
    p.add_argument("--max-files", type=int, default=d.max_files, help="files per request (HTTP 413 above)")
    p.add_argument(
        "--max-request-mb",
        type=float,
        metavar="MB",
        help=f"largest request body (HTTP 413 above; default {d.max_request_bytes / mib:g}, "
        "or --max-upload-mb when larger)",
    )
    p.add_argument(
        "--max-in-flight", type=int, default=d.max_in_flight, help="requests read and scored at once"
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=d.max_queue,
        help="requests waiting beyond those (HTTP 503 with Retry-After above)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=d.timeout_s,
        metavar="SECONDS",
        help="longest time per request (HTTP 504 above)",
    )
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help="require this key (header X-API-Key or Authorization: Bearer); default $PERSONA_IAA_API_KEY",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without an API key (anyone who can reach it can use it)",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from ORIGIN (or *) call the API from a browser; off by default; repeatable",
    )
    p.add_argument("--open", action="store_true", help="open the page in a web browser once the server is up")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse settings that would crash the server at start-up or make it refuse every upload."""
    from ..errors import ConfigError

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: a TCP port lies between 1 and 65535 (0: any free port)")
    if not (math.isfinite(args.max_upload_mb) and args.max_upload_mb > 0):
        raise ConfigError(f"--max-upload-mb {args.max_upload_mb:g}: must be a number of MB above 0")


@command(
    "serve",
    "serve a trained model: a web page at / and an HTTP API (POST /score, /explain; docs at /docs)",
    add_arguments,
)
def cmd_serve(args: argparse.Namespace) -> int:
    check_arguments(args)
    from ..server.limits import ServerLimits
    from ..server.run import serve

    mib = 1024 * 1024
    file_bytes = int(args.max_upload_mb * mib)
    request_bytes = (
        int(args.max_request_mb * mib)
        if args.max_request_mb is not None
        else max(ServerLimits.max_request_bytes, file_bytes)
    )
    limits = ServerLimits(
        max_file_bytes=file_bytes,
        max_files=args.max_files,
        max_request_bytes=request_bytes,
        max_in_flight=args.max_in_flight,
        max_queue=args.max_queue,
        timeout_s=args.timeout,
    )
    serve(
        args.checkpoint,
        host=args.host,
        port=args.port,
        device=args.device,
        limits=limits,
        api_key=args.api_key,
        insecure=args.insecure,
        cors_origins=args.cors_origin,
        open_browser=args.open,
    )
    return EXIT_OK
