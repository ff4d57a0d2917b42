"""Model side: backbone registry, weight sources and the multi-task model."""
from .backbones import available_backbones, create_backbone, register_backbone
from .pdmtl import IAAOutput, ModelSpec, PersonalityDrivenIAA, build_model

__all__ = [
    "IAAOutput", "ModelSpec", "PersonalityDrivenIAA", "available_backbones", "build_model",
    "create_backbone", "register_backbone",
]
