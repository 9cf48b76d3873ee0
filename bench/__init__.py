"""Benchmarks: each module is a script with `main(argv)` that prints a table and writes JSON (`s2st bench NAME`)."""

from __future__ import annotations

import json
import platform
from pathlib import Path


def device_name(device: str) -> str:
    """The device as results files name it: the GPU's model, or the CPU and how many threads torch uses."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def write_report(path: Path | None, report: dict) -> None:
    """Write a benchmark's figures as JSON where `--json` asked for them."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
