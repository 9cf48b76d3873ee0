"""Whether this environment's torch, torchaudio and transformers load together.

A torchaudio wheel built against another torch release installs cleanly and fails only when its C library
loads, deep inside the first import of the Higgs audio tokenizer. Checking once, up front, turns that into one
line that names the fix instead of an error in every module that imports a model.
"""

from __future__ import annotations

import sys
from importlib import metadata

FIX = "Reinstall from the lock: `make clean && make test` (or `make run`)."


def check_torch_stack() -> str | None:
    """None if the stack loads; otherwise one line saying which versions clash and how to fix it."""
    try:
        import torch  # noqa: F401 - the imports are the check
        import torchaudio  # noqa: F401
        from transformers import HiggsAudioV2TokenizerModel  # noqa: F401
    except Exception as error:  # noqa: BLE001 - whatever fails to load, the fix is the same
        versions = ", ".join(f"{name} {_version(name)}" for name in ("torch", "torchaudio", "transformers"))
        while error.__cause__ is not None:  # torchaudio wraps the loader's error, which names the missing symbol
            error = error.__cause__
        reason = " ".join(str(error).split()) or type(error).__name__
        return f"The torch stack does not load ({versions}): {reason}. {FIX}"
    return None


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    problem = check_torch_stack()
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)
    print("torch, torchaudio and transformers load together.")
