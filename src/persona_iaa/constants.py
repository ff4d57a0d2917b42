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
#: Choices of the scoring engine and the exporter, here (torch-free) so the CLI can offer them
#: without importing torch while it builds its parser.
SCORE_PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
SCORE_ENGINES: tuple[str, ...] = ("auto", "torch", "onnx")
EXPORT_FORMATS: dict[str, str] = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
#: XMP sidecars: how stars are given (quantiles of the run or fixed thresholds) and how sidecars are named.
XMP_STAR_METHODS: tuple[str, ...] = ("quantile", "fixed")
XMP_NAMINGS: tuple[str, ...] = ("auto", "darktable", "lightroom")
