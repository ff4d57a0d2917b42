"""The paper's three Euclidean losses (eqs. 2, 4 and 6)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def aesthetic_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_a: mean squared error of s_a against the normalised mean score."""
    return F.mse_loss(predicted.float(), target.float().reshape(predicted.shape))


def personality_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_p: squared error summed over the five traits, averaged over images."""
    return (predicted.float() - target.float()).pow(2).sum(dim=1).mean()


def final_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L: mean squared error of the final score s = s_a + w . s_p."""
    return F.mse_loss(predicted.float(), target.float().reshape(predicted.shape))
