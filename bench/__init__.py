"""Benchmarks: each module is a script with `main(argv)` that prints a table and writes JSON (`s2st bench NAME`)."""

from __future__ import annotations

import platform


def device_name(device: str) -> str:
    """The device as results files name it: the GPU's model, or the CPU and how many threads torch uses."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
