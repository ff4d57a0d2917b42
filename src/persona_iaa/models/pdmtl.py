"""PersonalityDrivenIAA: the multi-task model of Li et al. (ICME 2019).

shared backbone -> pooled features -> aesthetic head (Sigmoid, s_a in [0, 1])
                                   -> personality head (Tanh, s_p in [-1, 1]^5, order O C E A N)
score = s_a + w . s_p, with the five inter-task weights w initialised to 0 (eq. 5).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, NamedTuple, Optional, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from ..constants import TRAITS
from ..data.transforms import Preprocessing
from .backbones import Backbone, create_backbone
from .weights import WeightsArg

log = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


class IAAOutput(NamedTuple):
    """Named model output; a NamedTuple so that tracing and ONNX export see plain tensors."""

    score: torch.Tensor  # [N] final aesthetic score (eq. 5)
    aesthetic: torch.Tensor  # [N] s_a from the aesthetic head
    personality: torch.Tensor  # [N, 5] s_p, traits of the users who like the image


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild the architecture (weights come from the checkpoint)."""

    backbone: str = "densenet121"
    hidden_dims: tuple[int, ...] = (1024, 512)
    #: head layers (:data:`HEADS`); files written before this field existed have the paper's
    heads: str = "paper"

    def to_dict(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "hidden_dims": list(self.hidden_dims), "heads": self.heads}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        return cls(backbone=data["backbone"], hidden_dims=tuple(data.get("hidden_dims", (1024, 512))),
                   heads=str(data.get("heads", "paper")))


#: Head designs: "paper" (Linear + ReLU; the paper names no activation or regularisation) and "pa-iaa"
#: (Linear + BatchNorm + PReLU + Dropout(0.5), and BatchNorm before the tanh: the authors' public code).
HEADS = ("paper", "pa-iaa")


def prediction_head(in_features: int, hidden_dims: Sequence[int], outputs: int, activation: nn.Module,
                    heads: str = "paper") -> nn.Sequential:
    if heads not in HEADS:
        raise ValueError(f"heads must be one of {', '.join(HEADS)}, not {heads!r}")
    layers: list[nn.Module] = []
    width = in_features
    for hidden in hidden_dims:
        if heads == "pa-iaa":
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.PReLU(), nn.Dropout(0.5)]
        else:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    layers.append(nn.Linear(width, outputs))
    if heads == "pa-iaa" and isinstance(activation, nn.Tanh):
        layers.append(nn.BatchNorm1d(outputs))
    return nn.Sequential(*layers, activation)


def final_score(aesthetic: ArrayT, personality: ArrayT, weights: ArrayT, offset: float | ArrayT = 0.0
                ) -> ArrayT:
    """Eq. (5), written once for every caller: ``s = s_a + w . s_p`` (plus a per-person ``offset``).

    Works on torch tensors and NumPy arrays alike: ``aesthetic`` [N], ``personality`` [N, 5], ``weights`` [5]
    (or [N, 5] for one weight vector per row). The model's forward, stage 2, the least-squares metrics and
    personal scores all call this, so the formula cannot drift between them.
    """
    if isinstance(personality, torch.Tensor):
        weights = torch.as_tensor(weights, dtype=personality.dtype, device=personality.device)
        if weights.dim() == 1:
            return aesthetic + personality @ weights + offset
        return aesthetic + (personality * weights).sum(-1) + offset
    weights = np.asarray(weights, dtype=np.float64)
    personality = np.asarray(personality, dtype=np.float64)
    if weights.ndim == 1:
        return np.asarray(aesthetic, dtype=np.float64) + personality @ weights + offset
    return np.asarray(aesthetic, dtype=np.float64) + (personality * weights).sum(-1) + offset


class PersonalityDrivenIAA(nn.Module):
    """The model, and what a model file needs to rebuild and feed it.

    ``spec`` (architecture), ``backbone_weights`` (where the initial weights came from) and
    ``preprocessing`` (input statistics and sizes) default to what the backbone says about itself, so a
    model built directly from :func:`~persona_iaa.models.backbones.create_backbone` saves and loads again.
    """

    spec: ModelSpec
    backbone_weights: Optional[str]
    preprocessing: Preprocessing

    def __init__(self, backbone: Backbone, hidden_dims: Sequence[int] = (1024, 512),
                 spec: Optional[ModelSpec] = None, *, backbone_weights: Optional[str] = None,
                 preprocessing: Optional[Preprocessing] = None):
        super().__init__()
        self.backbone = backbone
        self.spec = spec or ModelSpec(getattr(backbone, "name", "custom"), tuple(hidden_dims))
        heads = self.spec.heads
        self.aesthetic_head = prediction_head(backbone.out_features, hidden_dims, 1, nn.Sigmoid(), heads)
        self.personality_head = prediction_head(backbone.out_features, hidden_dims, len(TRAITS), nn.Tanh(),
                                                heads)
        self.inter_task = nn.Parameter(torch.zeros(len(TRAITS)))
        self.backbone_weights = backbone_weights or getattr(backbone, "weights", None)
        self.preprocessing = preprocessing or getattr(backbone, "preprocessing", None) or Preprocessing()

    def forward(self, images: torch.Tensor) -> IAAOutput:
        features = self.backbone(images)
        aesthetic = self.aesthetic_head(features).squeeze(-1)
        personality = self.personality_head(features)
        score = final_score(aesthetic, personality, self.inter_task.to(personality.dtype))
        return IAAOutput(score, aesthetic, personality)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The three learning-rate groups of the paper: shared layers, task heads, inter-task weights."""
        return {
            "backbone": list(self.backbone.parameters()),
            "heads": list(self.aesthetic_head.parameters()) + list(self.personality_head.parameters()),
            "inter_task": [self.inter_task],
        }

    def inter_task_weights(self) -> dict[str, float]:
        return {trait: float(w) for trait, w in zip(TRAITS, self.inter_task.detach().cpu())}

    def preprocessing_at(self, image_size: int, crop_size: int, geometry: Optional[str] = None
                         ) -> Preprocessing:
        """The backbone's input statistics at a run's sizes (and evaluation ``geometry``, when given).
        Sizes are the run's choice; a difference from the backbone's pretrained default is logged, since
        some backbones work best (or only) at theirs."""
        default = self.preprocessing
        if (image_size, crop_size) != (default.image_size, default.crop_size):
            log.debug("%s: training at %d px (crop %d); its pretrained default is %d px (crop %d)",
                     self.spec.backbone, image_size, crop_size, default.image_size, default.crop_size)
        return dataclasses.replace(default, image_size=image_size, crop_size=crop_size,
                                   geometry=geometry or default.geometry)


def build_model(
    backbone: str = "densenet121", weights: WeightsArg = None, *, hidden_dims: Sequence[int] = (1024, 512),
    heads: str = "paper",
) -> PersonalityDrivenIAA:
    """Build the model; ``weights`` is None (random), ``"imagenet"`` or a path to a backbone state dict;
    ``heads`` one of :data:`HEADS`.

    The backbone records its name, weight provenance and preprocessing; the model takes them as fields.
    """
    built = create_backbone(backbone, weights)
    return PersonalityDrivenIAA(built, hidden_dims, ModelSpec(built.name, tuple(hidden_dims), heads))
