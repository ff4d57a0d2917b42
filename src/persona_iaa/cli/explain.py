"""``persona-iaa explain``: Grad-CAM maps for the final score and each trait, and a trait radar chart."""
from __future__ import annotations

import argparse
import sys
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
    from ..constants import TRAIT_NAMES, TRAITS
    from ..demo import model_caveat
    from ..inference.explain import explain_image, plot_explanation
    from ..models.io import load_trained_model
    from ..runtime import resolve_device

    device = resolve_device(args.device)
    model, preprocessing, meta = load_trained_model(args.checkpoint, device)
    personality = bool(meta.get("personality_trained", True))
    explanation = explain_image(model, preprocessing, args.image, device, personality=personality)
    path = plot_explanation(explanation, args.output, title=Path(args.image).name)
    caveat = model_caveat(meta)
    if caveat:
        print(f"note: {caveat}", file=sys.stderr)
    print(f"{args.image}: final score {explanation.score:.3f}, aesthetic score s_a "
          f"{explanation.aesthetic:.3f} (0 poor to 1 excellent; compare photos with each other)")
    if explanation.traits:
        traits = ", ".join(f"{TRAIT_NAMES[t]} {explanation.traits[t]:+.3f}" for t in TRAITS)
        print(f"people who like it are predicted to score (-1 to +1): {traits}")
    flat = [t for t in explanation.targets if explanation.flat.get(t)]
    if flat:
        names = ("final score" if t == "score" else TRAIT_NAMES[t] for t in flat)
        print("flat heat maps (no region raises them): " + ", ".join(names))
    print(f"wrote {path}: the photo, where it raises each output (red strongest), and the trait radar")
    return EXIT_OK
