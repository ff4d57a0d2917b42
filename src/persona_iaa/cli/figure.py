"""``persona-iaa figure fig4|fig5``: the paper's figures from a finished run or a ``reproduce`` root."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from ..constants import TRAITS
from ..terminal import printable
from . import EXIT_OK, command

RUN_HELP = ("a multi-task run folder, or a `persona-iaa reproduce` root (ROOT/seed-<k>/multitask/)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="figure", metavar="FIGURE", required=True)
    fig4 = sub.add_parser(
        "fig4", help="the five inter-task weights w, SGD and least squares side by side (the paper's Fig. 4)",
        description="Bar chart of the inter-task weights w learned by stage-2 SGD and of the exact "
                    "least-squares solution; notes when SGD did not converge. A reproduce root draws the "
                    "mean and sd over its seeds.")
    fig4.add_argument("run", metavar="RUN_DIR", help=RUN_HELP + " (mean \u00b1 sd over the seeds)")
    fig4.add_argument("--output", metavar="PNG", help="default: RUN_DIR/fig4.png")
    fig5 = sub.add_parser(
        "fig5", help="test images with their predicted traits and scores (the paper's Fig. 5)",
        description="The test images with the highest and the lowest ground-truth score (or the ones "
                    "named), each with its predicted personality (radar, -1..1) and its predicted vs "
                    "ground-truth score (0..1). Reads the run's test_predictions.csv; predicts the test "
                    "split with the model when it is missing or --aesthetic-data is another dataset.")
    fig5.add_argument("run", metavar="RUN_DIR", help=RUN_HELP + " (the first seed's run is drawn)")
    fig5.add_argument("--aesthetic-data", metavar="FORMAT:PATH",
                      help="the dataset whose test split is drawn and whose images are opened "
                           "(default: the run's own)")
    fig5.add_argument("--images", metavar="A,B",
                      help="comma-separated test images (file name or path) instead of the highest and "
                           "lowest")
    fig5.add_argument("--count", type=int,
                      help="images from each end of the ground-truth ranking (default 1: the paper's two)")
    fig5.add_argument("--output", metavar="PNG", help="default: RUN_DIR/fig5.png")
    fig5.add_argument("--batch-size", type=int, default=32, help="when the model predicts the test split")
    fig5.add_argument("--workers", type=int, default=0)
    fig5.add_argument("--device", default="auto")


def _write(plot: Callable[..., Path], data: Any, output: Path) -> Path:
    """Draw and write; a folder that cannot be written or an unknown image type is a one-line error."""
    from ..errors import ConfigError

    try:
        return plot(data, output)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None
    except ValueError as exc:  # matplotlib: "Format 'xyz' is not supported"
        raise ConfigError(f"cannot write {output}: {exc}") from None


def fig4(args: argparse.Namespace) -> int:
    from ..evaluation.report import weights_table
    from ..experiments.figures import inter_task_weights, plot_fig4

    weights = inter_task_weights(args.run)
    path = _write(plot_fig4, weights, Path(args.output or Path(args.run) / "fig4.png"))
    runs = len(weights.runs)
    what = f"mean over {runs} seeds" if runs > 1 else "one run"
    print(f"SGD w ({what}):           {weights_table(dict(zip(TRAITS, weights.sgd.mean(axis=0))))}")
    print(f"least-squares w ({what}): {weights_table(dict(zip(TRAITS, weights.lstsq.mean(axis=0))))}")
    note = weights.note()
    if note:
        print(f"note: {note}")
    print(f"Fig. 4: {printable(str(path))}")
    return EXIT_OK


def fig5(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..experiments.figures import fig5_panels, plot_fig5

    if args.images is not None and args.count is not None:
        raise ConfigError("give --images or --count, not both")
    names = [name.strip() for name in (args.images or "").split(",") if name.strip()]
    if args.images is not None and not names:
        raise ConfigError("--images names no image; give file names or paths separated by commas")
    panels = fig5_panels(args.run, args.aesthetic_data, images=names,
                         count=1 if args.count is None else args.count, device=args.device,
                         batch_size=args.batch_size, workers=args.workers)
    path = _write(plot_fig5, panels, Path(args.output or Path(args.run) / "fig5.png"))
    for panel in panels:
        traits = " ".join(f"{t}={v:+.2f}" for t, v in zip(TRAITS, panel.traits))
        print(printable(f"{panel.label}: {panel.path}  s={panel.score:.3f} s_a={panel.aesthetic:.3f} "
                        f"ground truth={panel.target:.3f}  {traits}"))
    print(f"Fig. 5: {printable(str(path))}")
    return EXIT_OK


FIGURES = {"fig4": fig4, "fig5": fig5}


@command("figure", "the paper's figures: fig4 (inter-task weights), fig5 (test images, traits, scores)",
         add_arguments)
def cmd_figure(args: argparse.Namespace) -> int:
    return FIGURES[args.figure](args)
