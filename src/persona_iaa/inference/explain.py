"""Why a photo scores as it does: Grad-CAM maps for the final score and each trait, and a trait radar.

Grad-CAM (Selvaraju et al., 2017): weight the backbone's last feature maps by the spatial mean of the
gradient of one output, sum, keep the positive part and upsample to the image. One forward pass serves
the six outputs (final score, O, C, E, A, N). The figure mirrors the paper's Fig. 5 for any photo.

The maps are shown over the whole photo at its own aspect ratio: the model sees a square, centre-cropped
view, so each map is stretched back onto the part of the photo that view covers, and the margins the model
never saw are dimmed. A map with no positive part (no region raises that output) is reported as *flat*
rather than drawn as an empty overlay. The figure and the web page draw the same overlay images
(:func:`overlay_image`) with the same colour scale (:data:`HEAT_CMAP`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..constants import TRAIT_NAMES, TRAITS
from ..data.images import ImageInput, open_image
from ..data.transforms import Preprocessing, eval_transform
from ..errors import ModelError
from ..evaluation.report import pyplot, save_figure
from ..models.pdmtl import PersonalityDrivenIAA

#: The outputs explained, in figure order.
TARGETS: tuple[str, ...] = ("score",) + TRAITS
#: The colour map of every heat map (figure, API and page): low = blue, high = red.
HEAT_CMAP = "turbo"
#: Weight of the heat-map colour over the photo.
HEAT_ALPHA = 0.5
#: Longest side of the photo as shown under the maps.
DISPLAY_SIZE = 768
#: A map whose positive part spans less than this share of its peak is reported as flat.
FLAT_SPREAD = 0.02
TARGET_LABELS: dict[str, str] = {"score": "final score", **TRAIT_NAMES}


@dataclasses.dataclass
class Explanation:
    """The model's view of the image, its outputs, and one map in [0, 1] per target (crop x crop).

    ``photo`` is the whole upright photo (longest side at most :data:`DISPLAY_SIZE`) and ``crop_box`` the
    part of it the model saw, as (left, top, right, bottom) fractions. ``flat`` marks the maps with no
    region that raises their output. ``traits`` and the trait maps are empty for a model trained without
    the personality task.
    """

    view: np.ndarray  # [crop, crop, 3] in [0, 1]: the centre crop the model saw
    score: float
    aesthetic: float
    traits: dict[str, float]
    maps: dict[str, np.ndarray]
    photo: Optional[np.ndarray] = None  # [H, W, 3] uint8
    crop_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    flat: dict[str, bool] = dataclasses.field(default_factory=dict)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(t for t in TARGETS if t in self.maps)


def _grad_cam(features: torch.Tensor, target: torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """One Grad-CAM map scaled to [0, 1] by its peak, and whether it is flat."""
    (gradient,) = torch.autograd.grad(target, features, retain_graph=True)
    cam = F.relu((gradient.mean(dim=(2, 3), keepdim=True) * features).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0].detach()
    peak, low = float(cam.max()), float(cam.min())
    flat = not peak > 0 or (peak - low) <= FLAT_SPREAD * peak
    return (cam / peak if peak > 0 else cam).cpu().numpy(), flat


def explain_image(
    model: PersonalityDrivenIAA,
    preprocessing: Preprocessing,
    source: ImageInput,
    device: Union[str, torch.device] = "cpu",
    *,
    personality: bool = True,
) -> Explanation:
    """Grad-CAM maps of ``source`` for the final score and every trait (ImageError for a bad image).

    ``personality=False`` (a model trained without the personality task) explains the score alone:
    the trait head is untrained there, so its outputs would mean nothing.
    """
    image = open_image(source)
    batch = eval_transform(preprocessing)(image)[None].to(device)
    captured: list[torch.Tensor] = []
    hook = model.backbone.features.register_forward_hook(
        lambda _module, _inputs, output: captured.append(output)
    )
    try:
        with torch.enable_grad():
            outputs = model.eval()(batch.requires_grad_(True))
    finally:
        hook.remove()
    features = captured[0]
    if features.dim() != 4:
        raise ModelError(
            f"explain needs a convolutional feature map; the {model.spec.backbone} backbone pools inside"
        )
    targets = {"score": outputs.score[0]}
    if personality:
        targets.update({t: outputs.personality[0, i] for i, t in enumerate(TRAITS)})
    maps, flat = {}, {}
    for name, target in targets.items():
        maps[name], flat[name] = _grad_cam(features, target, (batch.shape[-2], batch.shape[-1]))
    mean = torch.tensor(preprocessing.mean).view(3, 1, 1)
    std = torch.tensor(preprocessing.std).view(3, 1, 1)
    view = (batch[0].detach().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
    score, aesthetic, traits = (t.detach()[0] for t in outputs)
    image.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE))
    margin = (1 - preprocessing.crop_size / preprocessing.image_size) / 2  # per side, after the square resize
    return Explanation(
        view,
        float(score),
        float(aesthetic),
        {t: float(v) for t, v in zip(TRAITS, traits)} if personality else {},
        maps,
        photo=np.asarray(image),
        crop_box=(margin, margin, 1 - margin, 1 - margin),
        flat=flat,
    )


def _photo(explanation: Explanation) -> np.ndarray:
    return (
        explanation.photo
        if explanation.photo is not None
        else (explanation.view * 255).round().astype(np.uint8)
    )


def photo_map(explanation: Explanation, target: str) -> np.ndarray:
    """The map of ``target`` over the whole photo ([H, W] in [0, 1]), NaN where the model saw nothing."""
    photo = _photo(explanation)
    height, width = photo.shape[:2]
    left, top, right, bottom = explanation.crop_box
    x0, y0, x1, y1 = round(left * width), round(top * height), round(right * width), round(bottom * height)
    stretched = Image.fromarray(explanation.maps[target].astype(np.float32), mode="F").resize(
        (max(x1 - x0, 1), max(y1 - y0, 1)), Image.Resampling.BILINEAR
    )
    canvas = np.full((height, width), np.nan, dtype=np.float32)
    canvas[y0 : y0 + stretched.height, x0 : x0 + stretched.width] = np.asarray(stretched)
    return canvas


def colour_scale(steps: int = 11) -> list[str]:
    """The heat map colours from 0 to 1 as CSS hex strings (the page draws its legend from them)."""
    from matplotlib import colormaps

    cmap = colormaps[HEAT_CMAP]
    return [
        "#%02x%02x%02x" % tuple(int(round(c * 255)) for c in cmap(i / (steps - 1))[:3]) for i in range(steps)
    ]


def overlay_image(explanation: Explanation, target: str) -> np.ndarray:
    """The photo with the ``target`` map blended over what the model saw; the unseen margins dimmed.

    A flat map is not coloured (it has nothing to show), so a flat overlay is the plain photo.
    """
    from matplotlib import colormaps

    photo = _photo(explanation).astype(np.float32)
    heat = photo_map(explanation, target)
    seen = ~np.isnan(heat)
    out = photo.copy()
    if not explanation.flat.get(target, False):
        colours = colormaps[HEAT_CMAP](np.nan_to_num(heat))[..., :3] * 255
        out[seen] = (1 - HEAT_ALPHA) * photo[seen] + HEAT_ALPHA * colours[seen]
    out[~seen] *= 0.45
    return out.round().clip(0, 255).astype(np.uint8)


def map_title(explanation: Explanation, target: str) -> str:
    label = TARGET_LABELS[target]
    value = explanation.score if target == "score" else explanation.traits[target]
    text = f"{label} {value:.3f}" if target == "score" else f"{label} {value:+.3f}"
    return text + ("\nflat map: no region raises it" if explanation.flat.get(target) else "")


def _radar(fig, cell, traits: dict[str, float]) -> None:
    """Trait radar with the labels pushed outside the shape and aligned away from it."""
    radar = fig.add_subplot(cell, projection="polar")
    radar.set_theta_zero_location("N")
    radar.set_theta_direction(-1)
    angles = np.linspace(0, 2 * np.pi, len(TRAITS), endpoint=False)
    values = np.array([traits[t] for t in TRAITS])
    closed = np.append(angles, angles[0]), np.append(values, values[0])
    radar.plot(*closed, color="#2f6db5")
    radar.fill(*closed, color="#2f6db5", alpha=0.3)
    radar.set_ylim(-1, 1)
    radar.set_yticks([-0.5, 0, 0.5], ["-0.5", "0", "+0.5"], fontsize=6, color="#666666")
    radar.set_xticks(angles, [f"{TRAIT_NAMES[t]}\n{traits[t]:+.3f}" for t in TRAITS], fontsize=7)
    radar.tick_params(axis="x", pad=8)
    for label, angle in zip(radar.get_xticklabels(), angles):
        x = np.sin(angle)  # clockwise from the top: the sine says right (+) or left (-) of the centre
        label.set_horizontalalignment("center" if abs(x) < 0.1 else ("left" if x > 0 else "right"))
    radar.set_title("traits of the people who like it", fontsize=9, pad=24)


def plot_explanation(explanation: Explanation, path: Union[str, Path], title: str = "") -> Path:
    """The photo, one heat map per target over it, a colour scale and (with traits) the trait radar."""
    return save_figure(explanation_figure(explanation, title), path)


def figure_png(explanation: Explanation, title: str = "") -> bytes:
    """The figure of :func:`plot_explanation` as PNG bytes (for the HTTP API)."""
    import io

    fig = explanation_figure(explanation, title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    pyplot().close(fig)
    return buffer.getvalue()


def explanation_figure(explanation: Explanation, title: str = ""):
    """The matplotlib figure behind :func:`plot_explanation` (not yet laid out)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    targets = explanation.targets
    height, width = _photo(explanation).shape[:2]
    columns = 4 if len(targets) > 1 else 2
    rows = (len(targets) + 1 + (1 if explanation.traits else 0) + columns - 1) // columns
    panel = 3.2
    fig = pyplot().figure(
        figsize=(columns * panel + 0.8, rows * (panel * min(max(height / width, 0.6), 1.4) + 0.6)), dpi=110
    )
    grid = fig.add_gridspec(rows, columns + 1, width_ratios=[1] * columns + [0.05])
    cells = [grid[i // columns, i % columns] for i in range(rows * columns)]
    photo_ax = fig.add_subplot(cells[0])
    photo_ax.imshow(_photo(explanation))
    photo_ax.set_title(
        f"photo: final score {explanation.score:.3f}\n(aesthetic s_a {explanation.aesthetic:.3f})", fontsize=9
    )
    photo_ax.axis("off")
    for cell, target in zip(cells[1:], targets):
        ax = fig.add_subplot(cell)
        ax.imshow(overlay_image(explanation, target))
        ax.set_title(map_title(explanation, target), fontsize=9)
        ax.axis("off")
    if explanation.traits:
        _radar(fig, cells[len(targets) + 1], explanation.traits)
    colourbar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), HEAT_CMAP), cax=fig.add_subplot(grid[:, columns])
    )
    colourbar.set_label("Grad-CAM: 0 = no effect, 1 = strongest region", fontsize=8)
    heading = f"{title}: " if title else ""
    fig.suptitle(
        f"{heading}where the photo raises each output (dimmed margin: not seen by the model)", fontsize=10
    )
    return fig


def png_bytes(pixels: np.ndarray) -> bytes:
    """An RGB array as PNG file bytes (for the HTTP API and the page)."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
