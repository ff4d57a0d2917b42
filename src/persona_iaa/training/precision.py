"""Mixed precision: autocast for the forward pass, a gradient scaler for fp16, plain fp32 otherwise.

bf16 keeps fp32's exponent range and needs no scaling; fp16 does, and only makes sense on CUDA.
Losses are computed in fp32 (see :mod:`persona_iaa.training.losses`), so a non-finite loss always
means the run diverged, never a rounding artefact of the low-precision forward.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, Optional

import torch

from ..errors import ConfigError

DTYPES: dict[str, Optional[torch.dtype]] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cuda_grad_scaler() -> Any:
    """``torch.amp.GradScaler("cuda")``; torch 2.2, which the package still supports, has only the CUDA one.
    """
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


class Precision:
    def __init__(self, name: str, device: torch.device):
        if name not in DTYPES:
            raise ConfigError(f"train.precision must be one of {', '.join(DTYPES)}, not {name!r}")
        if name == "fp16" and device.type != "cuda":
            raise ConfigError("fp16 needs a CUDA device (its gradient scaler is a CUDA feature); "
                              "use bf16 on CPU")
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"{torch.cuda.get_device_name(device)} does not support bf16; use fp16 or fp32")
        self.name, self.device, self.dtype = name, device, DTYPES[name]
        self.scaler = cuda_grad_scaler() if name == "fp16" else None

    def autocast(self) -> ContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
             on_gradients: Optional[Callable[[], None]] = None) -> None:
        """Backward and optimiser step; with fp16 the scaler skips steps whose gradients overflowed.

        ``on_gradients`` runs between the two, on the true (unscaled) gradients: with fp16 the gradients
        are unscaled first, which ``scaler.step`` would do anyway, so the update is the same.
        """
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            if on_gradients is not None:
                on_gradients()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            if on_gradients is not None:
                self.scaler.unscale_(optimizer)
                on_gradients()
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> Optional[dict[str, Any]]:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: Optional[dict[str, Any]]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
