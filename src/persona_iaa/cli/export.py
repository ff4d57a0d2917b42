"""``persona-iaa export``: ONNX or TorchScript, checked against PyTorch on a random batch."""
from __future__ import annotations

import argparse

from ..constants import EXPORT_FORMATS
from . import EXIT_OK, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR",
                   help="run directory or model .safetensors")
    p.add_argument("--format", required=True, choices=tuple(EXPORT_FORMATS))
    p.add_argument("--output", metavar="FILE",
                   help="default: RUN_DIR/model.onnx or RUN_DIR/model.torchscript.pt")


@command("export", "write a trained model as ONNX or TorchScript (normalised batch in, three outputs out)",
         add_arguments)
def cmd_export(args: argparse.Namespace) -> int:
    from ..inference.export import default_export_path, export_model, max_difference
    from ..models.io import load_trained_model

    model, preprocessing, _ = load_trained_model(args.checkpoint, "cpu")
    output = args.output or default_export_path(args.checkpoint, args.format)
    path = export_model(model, preprocessing, args.format, output)
    difference = max_difference(model, preprocessing, path, args.format)
    crop = preprocessing.crop_size
    print(f"wrote {path} ({args.format}, input 'images' [N, 3, {crop}, {crop}]"
          f" normalised; outputs score, aesthetic, personality)")
    print(f"largest difference from PyTorch on a random batch: {difference:.2e}")
    return EXIT_OK
