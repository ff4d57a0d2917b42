"""The paper's figures from finished runs: Fig. 4 (the inter-task weights) and Fig. 5 (two test images with
their predicted traits and scores).

Why from files: every run writes ``test_metrics.json`` (stage 2: the SGD and the least-squares ``w`` with
their training MSEs) and ``test_predictions.csv`` (each test image's outputs), so a figure needs neither
retraining nor, usually, a forward pass. A ``persona-iaa reproduce`` root (``ROOT/seed-<k>/multitask/``)
is drawn over its seeds: Fig. 4 shows the mean and the spread, Fig. 5 the first seed's run.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
from PIL import Image

from ..constants import TRAIT_NAMES, TRAITS
from ..errors import ConfigError, DataError
from ..evaluation.report import pyplot, save_figure
from ..training.stage2 import sgd_converged
from .reproduce import DONE_FILE, MULTITASK, SEED_DIR, read_stage2

logger = logging.getLogger(__name__)

#: Series colours: SGD (the paper's stage 2) and the exact least-squares solution (eq. 6).
SGD_COLOUR, LSTSQ_COLOUR = "#4f81bd", "#f0a030"


# ---------------------------------------------------------------- runs and roots


def _seed_runs(root: Path) -> list[Path]:
    """A reproduce root's finished multi-task runs, ``ROOT/seed-<k>/multitask``, in seed order."""
    found: list[tuple[int, Path]] = []
    for child in root.iterdir():
        match = SEED_DIR.fullmatch(child.name)
        if match is None or not child.is_dir():
            continue
        run = child / MULTITASK
        if (run / DONE_FILE).is_file():
            found.append((int(match.group(1)), run))
        else:
            logger.warning("%s: no finished multi-task run (%s missing); left out", child, DONE_FILE)
    return [run for _, run in sorted(found)]


def multitask_runs(path: Union[str, Path]) -> list[Path]:
    """``[path]`` for a finished run folder, the seeds' multi-task runs for a reproduce root."""
    path = Path(path)
    if (path / DONE_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such run folder")
    runs = _seed_runs(path)
    if not runs:
        raise DataError(f"{path} is neither a finished run (no {DONE_FILE}) nor a reproduce root "
                        f"(no seed-<k>/{MULTITASK}/{DONE_FILE})")
    return runs


# ---------------------------------------------------------------- Fig. 4


@dataclasses.dataclass(frozen=True)
class InterTaskWeights:
    """Fig. 4's data: the SGD and the least-squares ``w`` of one run, or of every seed of a root."""

    runs: tuple[Path, ...]
    sgd: np.ndarray  # [runs, 5], trait order TRAITS
    lstsq: np.ndarray  # [runs, 5]
    converged: tuple[bool, ...]
    stage2: tuple[dict[str, Any], ...]

    @property
    def not_converged(self) -> int:
        return sum(not c for c in self.converged)

    def note(self) -> Optional[str]:
        """One line saying that stage-2 SGD did not reach the least-squares optimum, or None when it did."""
        if not self.not_converged:
            return None
        if len(self.runs) > 1:
            return (f"SGD did not converge in {self.not_converged} of {len(self.runs)} seeds "
                    "(training MSE not near the least-squares optimum)")
        s = self.stage2[0]
        return (f"SGD did not converge (training MSE {s['train_mse']:.4g}; least squares "
                f"{s['lstsq_train_mse']:.4g}; w = 0: {s['train_mse_without_w']:.4g})")


def inter_task_weights(path: Union[str, Path]) -> InterTaskWeights:
    """Read Fig. 4's data from a run folder or a reproduce root."""
    runs = multitask_runs(path)
    stage2 = [read_stage2(run) for run in runs]

    def matrix(key: str) -> np.ndarray:
        try:
            return np.array([[float(s[key][t]) for t in TRAITS] for s in stage2], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: stage2 {key} is not a weight per trait ({', '.join(TRAITS)})") from None

    return InterTaskWeights(tuple(runs), matrix("weights"), matrix("lstsq_weights"),
                            tuple(sgd_converged(s) for s in stage2), tuple(stage2))


def _weight_bars(ax, x: np.ndarray, values: np.ndarray, offset: float, **style: Any) -> None:
    """One series of Fig. 4: a bar per trait (the mean over runs, sd error bars when several)."""
    mean = values.mean(axis=0)
    spread = values.std(axis=0, ddof=1) if len(values) > 1 else None
    ax.bar(x + offset, mean, 0.38, yerr=spread, capsize=3 if spread is not None else 0,
           edgecolor="black", linewidth=0.6, error_kw={"linewidth": 0.9}, **style)
    ends = mean + np.sign(mean) * (spread if spread is not None else 0)  # past the error bar's cap
    for xi, value, end in zip(x + offset, mean, ends):
        up = value >= 0
        ax.annotate(f"{value:+.3f}", xy=(xi, end), xytext=(0, 2 if up else -2), textcoords="offset points",
                    ha="center", va="bottom" if up else "top", fontsize=7)


def plot_fig4(weights: InterTaskWeights, path: Union[str, Path], title: Optional[str] = None) -> Path:
    """The paper's Fig. 4: the coefficient of each trait, SGD and least squares side by side."""
    fig, ax = pyplot().subplots(figsize=(7.2, 4.0), dpi=150)
    x = np.arange(len(TRAITS))
    sgd_label = "SGD (paper's stage 2)" + ("" if not weights.not_converged else ", not converged"
                                           if len(weights.runs) == 1 else
                                           f", {weights.not_converged} of {len(weights.runs)} not converged")
    _weight_bars(ax, x, weights.sgd, -0.19, color=SGD_COLOUR, label=sgd_label,
                 hatch="//" if weights.not_converged else None)
    _weight_bars(ax, x, weights.lstsq, 0.19, color=LSTSQ_COLOUR, label="least squares (eq. 6)")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [f"{TRAIT_NAMES[t]}\n({t})" for t in TRAITS], fontsize=8)
    ax.set_ylabel("coefficient $w_j$")
    low, high = ax.get_ylim()
    margin = 0.12 * (high - low)  # room for the value labels above and below the bars
    ax.set_ylim(low - margin, high + margin)
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="best")
    runs = len(weights.runs)
    note = weights.note()
    ax.set_title(title or ("Inter-task weights w (cf. the paper's Fig. 4)"
                           + (f": mean \u00b1 sd over {runs} seeds" if runs > 1 else "")),
                 fontsize=10, pad=20 if note else 6)
    if note:  # between the title and the plot, where nobody reads past it
        ax.annotate(f"note: {note}", xy=(0.5, 1.0), xycoords="axes fraction", xytext=(0, 5),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8, color="#b00000")
    return save_figure(fig, path, bbox_inches="tight", pad_inches=0.1)


# ---------------------------------------------------------------- Fig. 5


@dataclasses.dataclass(frozen=True)
class Fig5Panel:
    """One test image of Fig. 5 and what the model says about it."""

    label: str
    path: str
    image: Image.Image
    target: float  # ground truth (the average score)
    aesthetic: float  # s_a
    traits: np.ndarray  # [5] s_p, O..N in [-1, 1]
    score: float  # the final score s (eq. 5)


#: Most images one Fig. 5 holds (beyond that the panels are too small to read).
MAX_PANELS = 12
#: Longest side of an image as drawn (photos are decoded near this size, not at full resolution).
PANEL_PIXELS = 512


@dataclasses.dataclass(frozen=True)
class SplitOutputs:
    """A run's outputs on its test split, and how its images are opened (a cache decodes from shards)."""

    paths: list[str]
    predictions: Any  # evaluation.evaluate.Predictions
    open_image: Callable[[str], Image.Image]


def _opener(source: Any) -> Callable[[str], Image.Image]:
    from ..data.images import open_image

    if source is not None and source.open_image is not None:
        return source.open_image
    return lambda path: open_image(path, draft_size=PANEL_PIXELS)


def _options(config: Any, spec: str) -> dict[str, Any]:
    """The run's format options apply to the run's own dataset only."""
    return dict(config.data.aesthetic_options) if spec == config.data.aesthetic else {}


def predict_test_split(run: Path, spec: str, config: Any, *, device: str = "auto", batch_size: int = 32,
                       workers: int = 0) -> SplitOutputs:
    """A forward pass of the run's model over the test split of ``spec``, split by the run's policy (so
    the images are the ones the run never trained on)."""
    from ..data.loading import RecordDataset, make_loader
    from ..data.records import AESTHETIC
    from ..data.registry import load_task_data
    from ..data.transforms import eval_transform
    from ..evaluation.evaluate import predict
    from ..models.io import load_trained_model
    from ..runtime import resolve_device

    if batch_size < 1 or workers < 0:
        raise ConfigError("--batch-size must be at least 1 and --workers at least 0")
    model, preprocessing, _ = load_trained_model(run)
    data = load_task_data(spec, AESTHETIC, _options(config, spec), val_fraction=config.data.val_fraction,
                          test_fraction=config.data.test_fraction, seed=config.train.seed)
    records = data.splits["test"]
    if not records:
        raise DataError(f"{spec}: the test split is empty")
    device_ = resolve_device(device)
    loader = make_loader(RecordDataset(records, eval_transform(preprocessing), data.source.open_image),
                         batch_size, shuffle=False, workers=workers, seed=0)
    predictions = predict(model.to(device_), loader, device_, desc="test")
    return SplitOutputs([r.path for r in records], predictions, _opener(data.source))


def run_test_outputs(run: Path, spec: Optional[str] = None, **predict_options: Any) -> SplitOutputs:
    """The run's ``test_predictions.csv`` when ``spec`` is the run's own data (or not given); otherwise the
    model predicts the test split of ``spec``. ``spec`` also says how images are opened."""
    from ..data.records import AESTHETIC
    from ..data.registry import load_source
    from ..evaluation.evaluate import PREDICTIONS_FILE, read_predictions, run_config

    config = run_config(run)
    own = config.data.aesthetic
    file = run / PREDICTIONS_FILE
    if file.is_file() and spec in (None, own):
        source = load_source(own, AESTHETIC, _options(config, own)) if own else None
        paths, predictions = read_predictions(file)
        if not paths:
            raise DataError(f"{file}: no test images")
        return SplitOutputs(paths, predictions, _opener(source))
    spec = spec or own
    if not spec:
        raise ConfigError(f"{run} records no aesthetic data and has no {PREDICTIONS_FILE}: "
                          "pass --aesthetic-data FORMAT:PATH")
    logger.info("predicting the test split of %s with %s", spec, run)
    return predict_test_split(run, spec, config, **predict_options)


def find_image(paths: Sequence[str], name: str) -> int:
    """The index of the test image ``name`` names: its path as recorded, or a file name or trailing part
    of the path (which must name one image only)."""
    import os

    exact = [i for i, p in enumerate(paths) if p == name or os.path.abspath(p) == os.path.abspath(name)]
    if exact:
        return exact[0]
    tail = "/" + name.replace("\\", "/").lstrip("/")
    matches = [i for i, p in enumerate(paths) if ("/" + p.replace("\\", "/")).endswith(tail)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DataError(f"no test image matches {name!r} ({len(paths)} test images; give a file name "
                        "or path from the run's test_predictions.csv)")
    shown = ", ".join(paths[i] for i in matches[:2])
    raise DataError(f"{name!r} matches {len(matches)} test images ({shown}...): give more of its path")


def _letter(k: int) -> str:
    return f"({chr(ord('a') + k)})" if k < 26 else f"({k + 1})"


def choose_images(paths: Sequence[str], target: np.ndarray, names: Sequence[str] = (),
                  count: int = 1) -> list[tuple[str, int]]:
    """Fig. 5's images as (label, index): the named ones, else the ``count`` test images with the highest
    and the ``count`` with the lowest ground-truth score (the paper's "high/low average aesthetic score")."""
    if names:
        if len(names) > MAX_PANELS:
            raise ConfigError(f"--images names {len(names)} images; Fig. 5 holds at most {MAX_PANELS}")
        return [(_letter(k), find_image(paths, name)) for k, name in enumerate(names)]
    if not 1 <= 2 * count <= MAX_PANELS:
        raise ConfigError(f"--count must be between 1 and {MAX_PANELS // 2}, not {count}")
    order = [int(i) for i in np.argsort(-np.asarray(target, dtype=np.float64), kind="stable")]
    high = order[:count]
    low = [i for i in reversed(order) if i not in high][:count]
    n = len(order)
    chosen = [(f"high ground-truth score: rank {order.index(i) + 1} of {n}", i) for i in high]
    chosen += [(f"low ground-truth score: rank {order.index(i) + 1} of {n}", i) for i in low]
    return [(f"{_letter(k)} {label}", i) for k, (label, i) in enumerate(chosen)]


def _thumbnail(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    image.thumbnail((PANEL_PIXELS, PANEL_PIXELS))
    return image


def fig5_panels(path: Union[str, Path], spec: Optional[str] = None, *, images: Sequence[str] = (),
                count: int = 1, **predict_options: Any) -> list[Fig5Panel]:
    """Fig. 5's panels from a run folder (or a reproduce root's first seed's multi-task run)."""
    run = multitask_runs(path)[0]
    read_stage2(run)  # the traits of a model trained without the personality task mean nothing
    outputs = run_test_outputs(run, spec, **predict_options)
    pred = outputs.predictions
    chosen = choose_images(outputs.paths, pred.target[:, 0], images, count)
    return [Fig5Panel(label, outputs.paths[i], _thumbnail(outputs.open_image(outputs.paths[i])),
                      float(pred.target[i, 0]), float(pred.aesthetic[i]), np.array(pred.personality[i]),
                      float(pred.score[i])) for label, i in chosen]


def _plain(text: str, limit: int = 40) -> str:
    """A file name as matplotlib text: shortened, and '$' escaped so it is not read as mathtext."""
    text = text if len(text) <= limit else "\u2026" + text[-(limit - 1):]
    return text.replace("$", r"\$")


def _draw_image(ax, panel: Fig5Panel) -> None:
    ax.imshow(np.asarray(panel.image))
    ax.set_axis_off()
    ax.set_title(f"{panel.label}\n{_plain(Path(panel.path).name)}", fontsize=8)


def _draw_radar(ax, traits: np.ndarray) -> None:
    """The predicted traits on a radar from -1 (centre) to 1 (rim); the dashed ring is 0."""
    angles = np.linspace(0, 2 * np.pi, len(TRAITS), endpoint=False)
    values = np.clip(np.asarray(traits, dtype=np.float64), -1, 1)
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_ylim(-1, 1)
    ring = np.linspace(0, 2 * np.pi, 120)
    ax.plot(ring, np.zeros_like(ring), linestyle="--", color="grey", linewidth=0.8)
    ax.plot(np.append(angles, angles[0]), np.append(values, values[0]), color=SGD_COLOUR, linewidth=1.6)
    ax.fill(np.append(angles, angles[0]), np.append(values, values[0]), color=SGD_COLOUR, alpha=0.25)
    ax.set_xticks(angles, [f"{t}\n{v:+.2f}" for t, v in zip(TRAITS, traits)], fontsize=8)
    for label, angle in zip(ax.get_xticklabels(), angles):  # clockwise from the top: keep off the rim
        side = np.sin(angle)
        label.set_horizontalalignment("center" if abs(side) < 0.3 else "left" if side > 0 else "right")
    ax.set_yticks([-1, -0.5, 0, 0.5, 1], ["-1", "", "0", "", "1"], fontsize=6)
    ax.set_title("predicted personality", fontsize=8, pad=16)


def _draw_scores(ax, panel: Fig5Panel) -> None:
    """Predicted final score, the aesthetic head's s_a and the ground truth, on the 0..1 scale."""
    rows = [("predicted s", panel.score, SGD_COLOUR), ("aesthetic head s_a", panel.aesthetic, "#9dbbe0"),
            ("average (ground truth)", panel.target, "#7f7f7f")]
    y = np.arange(len(rows))[::-1]
    bars = ax.barh(y, [v for _, v, _ in rows], color=[c for _, _, c in rows], height=0.7)
    ax.bar_label(bars, labels=[f"{v:.3f}" for _, v, _ in rows], fontsize=7, padding=2)
    ax.set_yticks(y, [name for name, _, _ in rows], fontsize=7)
    ax.set_xlim(0, 1.18)
    ax.set_xticks([0, 0.5, 1])
    ax.tick_params(axis="x", labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("aesthetic score (0..1)", fontsize=8)


def plot_fig5(panels: Sequence[Fig5Panel], path: Union[str, Path], title: Optional[str] = None) -> Path:
    """The paper's Fig. 5: each image above its predicted traits (radar) and its scores."""
    if not panels:
        raise ConfigError("Fig. 5 needs at least one image")
    blocks = -(-len(panels) // 4)  # rows of at most four panels, as even as they come
    columns = -(-len(panels) // blocks)
    fig = pyplot().figure(figsize=(3.4 * columns, 7.2 * blocks), dpi=150)
    grid = fig.add_gridspec(3 * blocks, columns, height_ratios=[1.3, 1.3, 0.55] * blocks)
    for k, panel in enumerate(panels):
        block, column = divmod(k, columns)
        _draw_image(fig.add_subplot(grid[3 * block, column]), panel)
        _draw_radar(fig.add_subplot(grid[3 * block + 1, column], projection="polar"), panel.traits)
        _draw_scores(fig.add_subplot(grid[3 * block + 2, column]), panel)
    fig.suptitle(title or "Test images with predicted personality and score (cf. the paper's Fig. 5)\n"
                 "traits O, C, E, A, N from -1 (centre) to +1 (rim), dashed ring 0; scores from 0 to 1",
                 fontsize=9)
    return save_figure(fig, path, bbox_inches="tight", pad_inches=0.15)
