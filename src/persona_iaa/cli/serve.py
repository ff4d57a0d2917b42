"""``persona-iaa serve``."""
from __future__ import annotations

import argparse

from . import EXIT_OK, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-upload-mb", type=float, default=32, help="largest accepted file (HTTP 413 above)")


@command("serve", "serve a trained model over HTTP (POST /score with image uploads)", add_arguments)
def cmd_serve(args: argparse.Namespace) -> int:
    from ..inference.server import serve

    serve(args.checkpoint, host=args.host, port=args.port, device=args.device,
          max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    return EXIT_OK
