"""Choose the torch device: `auto` means CUDA, then Apple MPS, then CPU."""
from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """The device to train on; raise ValueError when an explicit choice is not available."""
    if name not in DEVICES:
        raise ValueError(f"unknown device '{name}' (choose {', '.join(DEVICES)})")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA GPU is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("MPS was asked for but is not available")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """Human name, e.g. 'CUDA (NVIDIA H100 80GB HBM3)' or 'CPU (2 threads)'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
