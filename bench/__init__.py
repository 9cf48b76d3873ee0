"""Benchmarks: each module is a script with `main(argv)` that prints a table and writes JSON (`s2st bench NAME`)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

SPEECH_ENV = "S2ST_SPEECH_DIR"


def speech_dir() -> Path:
    """The held real speech (read its README): `$S2ST_SPEECH_DIR`, else `shared/data/speech` beside this repository.

    Benchmarks and tests both read it from here, so moving the data means setting one variable.
    """
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"
    return Path(os.environ.get(SPEECH_ENV, default)).expanduser()


def missing_speech() -> str | None:
    """None when the held speech is there; otherwise one line saying where it was expected and how to point at it."""
    path = speech_dir()
    if (path / "long_en_16k.wav").is_file():
        return None
    return f"held speech not found at {path} (expected long_en_16k.wav there); set {SPEECH_ENV} to its directory"


def device_name(device: str) -> str:
    """The device as results files name it: the GPU's model, or the CPU and how many threads torch uses."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def percentile(values: list[float], q: float, ndigits: int | None = None) -> float | None:
    """The `q`th percentile of `values` (rounded to `ndigits` places when given); None when there are none."""
    if not len(values):
        return None
    value = float(np.percentile(np.asarray(values), q))
    return value if ndigits is None else round(value, ndigits)


def write_report(path: Path | None, report: dict) -> None:
    """Write a benchmark's figures as JSON where `--json` asked for them."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
