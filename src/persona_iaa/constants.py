"""Names shared by every layer: trait order and the ImageNet normalisation."""
from __future__ import annotations

#: Big-Five trait order used everywhere (the paper's Fig. 5 order).
TRAITS: tuple[str, ...] = ("O", "C", "E", "A", "N")
TRAIT_NAMES: dict[str, str] = {
    "O": "Openness",
    "C": "Conscientiousness",
    "E": "Extraversion",
    "A": "Agreeableness",
    "N": "Neuroticism",
}
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".heic", ".heif", ".avif"}
)
