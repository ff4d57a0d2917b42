"""``persona-iaa evaluate``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from . import EXIT_OK, command, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR",
                   help="run directory or model .safetensors")
    p.add_argument("--aesthetic-data", metavar="FORMAT:PATH", help="defaults to the run's own aesthetic data")
    p.add_argument("--personality-data", metavar="FORMAT:PATH", help="trait labels for per-trait metrics")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--plot", metavar="PNG",
                   help="inter-task weights plot (default: RUN_DIR/inter_task_weights.png)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


@command("evaluate", "metrics of a trained model on a dataset split (the paper's Tables 1 and 2)",
         add_arguments)
def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate_model, run_config
    from ..evaluation.report import metrics_table, personality_table, plot_inter_task_weights, weights_table
    from ..models.io import load_trained_model

    config = run_config(args.checkpoint)
    aesthetic = args.aesthetic_data or config.data.aesthetic
    if not aesthetic:
        raise ConfigError("evaluate needs --aesthetic-data FORMAT:PATH")
    model, pre, _ = load_trained_model(args.checkpoint)
    result = evaluate_model(model, pre, aesthetic=aesthetic, split=args.split,
                            personality=args.personality_data, config=config, batch_size=args.batch_size,
                            workers=args.workers, device=args.device)
    checkpoint = Path(args.checkpoint)
    run_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    try:
        plot_path = args.plot or run_dir / "inter_task_weights.png"
        plot: object = plot_inter_task_weights(result["inter_task_weights"], plot_path)
    except OSError as exc:  # a read-only shared run folder must not cost the metrics
        if args.plot:
            raise ConfigError(f"cannot write the plot {args.plot}: {exc.strerror or exc}") from None
        plot = f"not written ({exc.strerror or exc}); pass --plot PNG"
    if args.json:
        print_json(result)
        return EXIT_OK
    print(metrics_table({"final score s": result, "aesthetic head s_a": result["aesthetic_only"]}))
    print("inter-task weights:", weights_table(result["inter_task_weights"]))
    if "personality" in result:
        print(personality_table(result["personality"]))
    print(f"weights plot: {plot}")
    return EXIT_OK
