"""Speed options shared by the trainables: numeric ``precision`` and ``compile`` (torch.compile).

``precision``:
  * ``fp32`` (default): plain float32, exactly the code path the trainables had before these options.
  * ``bf16``: forward passes under ``torch.autocast(dtype=bfloat16)`` on CPU or CUDA (Micikevicius et
    al., "Mixed Precision Training", arXiv:1710.03740; bfloat16 keeps float32's exponent range, so no
    loss scaling is needed).  Losses are computed in float32 from the outputs.
  * ``fp16``: autocast to float16 with a dynamic loss scaler (``torch.amp.GradScaler``); CUDA only.
    On a CPU device it is an error (``PrecisionError``), not a silent switch to another precision:
    use ``bf16`` on CPUs.

``compile``: ``torch.compile`` the model for training and evaluation (off by default; the first steps
of a trial then pay the compilation, minutes for large models).  The uncompiled module stays the one
that is checkpointed, so checkpoints are interchangeable between compiled and plain runs.
"""
from __future__ import annotations

import contextlib
import logging

log = logging.getLogger("hpo.trainables")

PRECISIONS = ("fp32", "bf16", "fp16")  # importable without PyTorch (argument validation on the driver)


class PrecisionError(ValueError):
    """A precision the device cannot run (fp16 on a CPU)."""


def check_precision(name) -> str:
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return name


class Precision:
    """Autocast context and (fp16) gradient scaler for one trial on one device."""

    def __init__(self, name: str, device):
        import torch

        self.name = check_precision(name)
        self.device = torch.device(device)
        if name == "fp16" and self.device.type != "cuda":
            raise PrecisionError(f"precision fp16 needs a CUDA device (this trial runs on {self.device.type}); "
                                 "use bf16 or fp32 on CPUs")
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name)
        self.scaler = torch.amp.GradScaler("cuda") if name == "fp16" else None

    def autocast(self):
        """Context for forward passes (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward_step(self, loss, optimizer) -> None:
        """loss.backward() and optimizer.step(), through the scaler for fp16."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def get_state(self) -> dict:
        return {"name": self.name, "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def set_state(self, state: dict | None) -> None:
        if state and self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def maybe_compile(model, enabled: bool):
    """``torch.compile(model)`` when ``enabled`` (shapes vary between batches: dynamic shapes)."""
    if not enabled:
        return model
    import torch

    log.info("compiling the model with torch.compile (the first steps are slow)")
    return torch.compile(model, dynamic=True)


def as_bool(value) -> bool:
    """YAML/CLI flags: true/false, 1/0, 'true'/'false'."""
    if isinstance(value, str):
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"must be true or false, got {value!r}")
    return bool(value)
