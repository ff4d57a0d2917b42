"""``persona-iaa serve``."""
from __future__ import annotations

import argparse
import math

from . import EXIT_OK, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="TCP port, 1 to 65535 (0: any free port)")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-upload-mb", type=float, default=32, help="largest accepted file (HTTP 413 above)")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse settings that would crash the server at start-up or make it refuse every upload."""
    from ..errors import ConfigError

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: a TCP port lies between 1 and 65535 (0: any free port)")
    if not (math.isfinite(args.max_upload_mb) and args.max_upload_mb > 0):
        raise ConfigError(f"--max-upload-mb {args.max_upload_mb:g}: must be a number of MB above 0")


@command("serve", "serve a trained model over HTTP (POST /score with image uploads)", add_arguments)
def cmd_serve(args: argparse.Namespace) -> int:
    check_arguments(args)
    from ..inference.server import serve

    serve(args.checkpoint, host=args.host, port=args.port, device=args.device,
          max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    return EXIT_OK
