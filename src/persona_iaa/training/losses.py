"""The paper's three Euclidean losses (eqs. 2, 4 and 6)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def score_mse(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a score against the normalised mean score (computed in fp32)."""
    return F.mse_loss(predicted.float(), target.float().reshape(predicted.shape))


#: L_a (eq. 2): MSE of s_a. L (eq. 6): MSE of the final score s = s_a + w . s_p. The same criterion.
aesthetic_loss = score_mse
final_loss = score_mse


def personality_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_p (eq. 4): squared error summed over the five traits, averaged over images."""
    return (predicted.float() - target.float()).pow(2).sum(dim=1).mean()
