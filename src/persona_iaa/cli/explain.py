"""``persona-iaa explain``: Grad-CAM maps for the final score and each trait, and a trait radar chart."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import EXIT_OK, command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR",
                   help="run directory or model .safetensors")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--output", required=True, metavar="PNG", help="the figure to write, e.g. heat.png")
    p.add_argument("--device", default="auto")


@command("explain", "Grad-CAM maps of one image for the final score and each trait (cf. the paper's Fig. 5)",
         add_arguments)
def cmd_explain(args: argparse.Namespace) -> int:
    from ..constants import TRAITS
    from ..inference.explain import explain_image, plot_explanation
    from ..runtime import resolve_device
    from ..models.io import load_trained_model

    device = resolve_device(args.device)
    model, preprocessing, _ = load_trained_model(args.checkpoint, device)
    explanation = explain_image(model, preprocessing, args.image, device)
    path = plot_explanation(explanation, args.output, title=Path(args.image).name)
    traits = "  ".join(f"{t}={explanation.traits[t]:+.3f}" for t in TRAITS)
    print(f"{args.image}: score {explanation.score:.4f}  s_a {explanation.aesthetic:.4f}  {traits}")
    print(f"wrote {path}")
    return EXIT_OK
