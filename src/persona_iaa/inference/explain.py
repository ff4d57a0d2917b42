"""Why a photo scores as it does: Grad-CAM maps for the final score and each trait, and a trait radar.

Grad-CAM (Selvaraju et al., 2017): weight the backbone's last feature maps by the spatial mean of the
gradient of one output, sum, keep the positive part and upsample to the image. One forward pass serves
the six outputs (final score, O, C, E, A, N). The figure mirrors the paper's Fig. 5 for any photo.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import TRAIT_NAMES, TRAITS
from ..data.images import ImageInput, open_image
from ..data.transforms import Preprocessing, eval_transform
from ..errors import ModelError
from ..evaluation.report import pyplot, save_figure
from ..models.pdmtl import PersonalityDrivenIAA

#: The outputs explained, in figure order.
TARGETS: tuple[str, ...] = ("score",) + TRAITS


@dataclasses.dataclass
class Explanation:
    """The model's view of the image, its outputs, and one map in [0, 1] per target (crop x crop)."""

    view: np.ndarray  # [crop, crop, 3] in [0, 1]: the centre crop the model saw
    score: float
    aesthetic: float
    traits: dict[str, float]
    maps: dict[str, np.ndarray]


def explain_image(model: PersonalityDrivenIAA, preprocessing: Preprocessing, source: ImageInput,
                  device: Union[str, torch.device] = "cpu") -> Explanation:
    """Grad-CAM maps of ``source`` for the final score and every trait (ImageError for a bad image)."""
    batch = eval_transform(preprocessing)(open_image(source))[None].to(device)
    captured: list[torch.Tensor] = []
    hook = model.backbone.features.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
    try:
        with torch.enable_grad():
            outputs = model.eval()(batch.requires_grad_(True))
    finally:
        hook.remove()
    features = captured[0]
    if features.dim() != 4:
        raise ModelError(f"explain needs a convolutional feature map; the {model.spec.backbone} backbone pools inside")
    targets = {"score": outputs.score[0], **{t: outputs.personality[0, i] for i, t in enumerate(TRAITS)}}
    maps = {}
    for name, target in targets.items():
        (gradient,) = torch.autograd.grad(target, features, retain_graph=True)
        cam = F.relu((gradient.mean(dim=(2, 3), keepdim=True) * features).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=batch.shape[-2:], mode="bilinear", align_corners=False)[0, 0].detach()
        peak = float(cam.max())
        maps[name] = (cam / peak if peak > 0 else cam).cpu().numpy()
    mean = torch.tensor(preprocessing.mean).view(3, 1, 1)
    std = torch.tensor(preprocessing.std).view(3, 1, 1)
    view = (batch[0].detach().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
    score, aesthetic, personality = (t.detach()[0] for t in outputs)
    return Explanation(view, float(score), float(aesthetic), {t: float(v) for t, v in zip(TRAITS, personality)}, maps)


def plot_explanation(explanation: Explanation, path: Union[str, Path], title: str = "") -> Path:
    """A 2x4 figure: the image, the score map, five trait maps and the trait radar chart."""
    fig = pyplot().figure(figsize=(12, 6.4), dpi=110)
    view_ax = fig.add_subplot(2, 4, 1)
    view_ax.imshow(explanation.view)
    view_ax.set_title(f"score {explanation.score:.3f}  (s_a {explanation.aesthetic:.3f})", fontsize=9)
    for index, target in enumerate(TARGETS, start=2):
        ax = fig.add_subplot(2, 4, index)
        ax.imshow(explanation.view)
        ax.imshow(explanation.maps[target], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        label = "final score" if target == "score" else f"{TRAIT_NAMES[target]} {explanation.traits[target]:+.3f}"
        ax.set_title(f"Grad-CAM: {label}", fontsize=9)
    for ax in fig.axes:
        ax.axis("off")
    radar = fig.add_subplot(2, 4, 8, projection="polar")
    angles = np.linspace(0, 2 * np.pi, len(TRAITS), endpoint=False)
    values = np.array([explanation.traits[t] for t in TRAITS])
    radar.plot(np.append(angles, angles[0]), np.append(values, values[0]), color="#4f81bd")
    radar.fill(np.append(angles, angles[0]), np.append(values, values[0]), color="#4f81bd", alpha=0.3)
    radar.set_xticks(angles, [TRAIT_NAMES[t] for t in TRAITS], fontsize=7)
    radar.set_ylim(-1, 1)
    radar.set_yticks([-0.5, 0, 0.5], ["-0.5", "0", "0.5"], fontsize=6)
    radar.set_title("traits of likers", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
