"""The multi-task model: shapes, ranges, eq. (5), backbones and weight sources."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

from persona_iaa import build_model
from persona_iaa.errors import ModelError
from persona_iaa.models.backbones import available_backbones, create_backbone
from persona_iaa.models.weights import rename_legacy_densenet_keys


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_densenet121_backbone_matches_torchvision_features():
    model = build_model("densenet121", weights=None)
    reference = torchvision.models.densenet121(weights=None)
    assert count(model.backbone) == count(reference.features) == 6_953_856
    assert model.backbone.out_features == 1024
    # heads: FC(1024,1024)-FC(1024,512)-Linear(512,k) each, and five inter-task weights
    head = lambda k: 1024 * 1024 + 1024 + 1024 * 512 + 512 + 512 * k + k  # noqa: E731
    assert count(model) == count(reference.features) + head(1) + head(5) + 5


def test_forward_returns_named_outputs_in_range_and_eq5():
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    with torch.no_grad():
        model.inter_task.copy_(torch.tensor([0.1, -0.2, 0.3, -0.4, 0.5]))
        out = model(torch.randn(3, 3, 40, 40))
    assert out.score.shape == (3,) and out.aesthetic.shape == (3,) and out.personality.shape == (3, 5)
    assert ((out.aesthetic > 0) & (out.aesthetic < 1)).all()
    assert ((out.personality > -1) & (out.personality < 1)).all()
    expected = out.aesthetic + out.personality @ torch.tensor([0.1, -0.2, 0.3, -0.4, 0.5])
    torch.testing.assert_close(out.score, expected)


def test_inter_task_weights_start_at_zero_so_score_is_s_a():
    model = build_model("tiny").eval()
    assert model.inter_task_weights() == {t: 0.0 for t in "OCEAN"}
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(out.score, out.aesthetic)


def test_parameter_groups_partition_the_model():
    model = build_model("tiny")
    groups = model.parameter_groups()
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert groups["inter_task"] == [model.inter_task]


@pytest.mark.parametrize("name", ["tiny", "mobilenet_v2", "resnet50", "densenet169"])
def test_registered_backbones_produce_pooled_features(name):
    backbone = create_backbone(name).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 64))
    assert features.shape == (1, backbone.out_features)


def test_tiny_backbone_is_under_100k_parameters():
    assert count(create_backbone("tiny")) < 100_000


def test_timm_backbone_by_name():
    pytest.importorskip("timm")
    model = build_model("timm:resnet10t", hidden_dims=(16,)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.personality.shape == (1, 5)


def test_unknown_backbone_is_one_clear_error():
    with pytest.raises(ModelError, match="unknown backbone 'densenet1000'.*densenet121"):
        build_model("densenet1000")
    assert "densenet121" in available_backbones() and "tiny" in available_backbones()


def test_local_torchvision_weights_file_is_loaded(tmp_path):
    reference = torchvision.models.mobilenet_v2(weights=None)
    path = tmp_path / "mobilenet_v2-local.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("mobilenet_v2", weights=str(path))
    for (name, mine), theirs in zip(
        model.backbone.features.state_dict().items(), reference.features.state_dict().values()
    ):
        torch.testing.assert_close(mine, theirs, msg=name)
    assert model.backbone_weights == str(path)


def test_legacy_densenet_checkpoint_keys_are_renamed():
    legacy = {
        "features.denseblock1.denselayer1.norm.1.weight": torch.ones(1),
        "features.denseblock1.denselayer1.conv.2.weight": torch.ones(1),
        "classifier.bias": torch.ones(1),
    }
    assert set(rename_legacy_densenet_keys(legacy)) == {
        "features.denseblock1.denselayer1.norm1.weight",
        "features.denseblock1.denselayer1.conv2.weight",
        "classifier.bias",
    }


def test_weights_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ModelError, match="does not match|does not fit"):
        build_model("mobilenet_v2", weights=str(path))


def test_missing_weights_file_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        build_model("tiny", weights=str(tmp_path / "nope.pth"))


def test_imagenet_weights_offline_name_the_alternatives(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(ModelError) as info:
        build_model("mobilenet_v2", weights="imagenet")
    message = str(info.value)
    assert "--backbone-weights FILE" in message and "--backbone-weights none" in message
    assert "\n" not in message


def test_weights_file_with_other_shapes_is_refused_for_tiny_too(tmp_path):
    from persona_iaa.models.backbones import create_backbone

    # the tiny net's own keys (features.conv0.weight, ...), with its first convolution mis-shaped
    state = {
        f"features.{k.removeprefix('0.')}": v
        for k, v in create_backbone("tiny").features.state_dict().items()
    }
    state["features.conv0.weight"] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / "tiny-wrong.pth"
    torch.save(state, path)
    with pytest.raises(ModelError, match="does not fit the backbone"):
        build_model("tiny", weights=str(path))


def test_a_backbone_name_cannot_be_registered_twice():
    from persona_iaa.models.backbones import register_backbone

    with pytest.raises(ValueError, match="backbone 'tiny' is registered twice"):
        register_backbone("tiny")(lambda weights: create_backbone("tiny"))
    assert create_backbone("tiny").name == "tiny"


def test_old_imports_of_the_model_file_functions_still_work():
    from persona_iaa.models import io
    from persona_iaa.training import checkpoint

    for name in ("save_model", "load_trained_model", "load_state", "read_meta", "resolve_model_path"):
        assert getattr(checkpoint, name) is getattr(io, name)


@pytest.mark.parametrize(
    "package, forbidden", [
        ("models", ("training", "inference", "evaluation", "experiments", "cli", "server")),
        ("data", ("models", "training", "inference", "evaluation", "experiments", "cli", "server")),
        ("evaluation", ("training", "inference", "experiments", "cli", "server")),
        ("training", ("inference", "experiments", "cli", "server")),
        ("inference", ("training", "experiments", "cli")),
        ("experiments", ("cli", "server")),
    ]
)
def test_lower_floors_do_not_import_higher_ones(package, forbidden):
    import ast
    from pathlib import Path

    import persona_iaa

    root = Path(persona_iaa.__file__).parent
    offenders = []
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [f"{'.' * node.level}{node.module or ''}"]
                if isinstance(node, ast.ImportFrom)
                else ([alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            )
            for name in names:
                parts = name.lstrip(".").split(".")
                if parts[0] in forbidden or parts[:2] in [["persona_iaa", f] for f in forbidden]:
                    offenders.append(f"{path.relative_to(root)}: {name}")
    assert not offenders
