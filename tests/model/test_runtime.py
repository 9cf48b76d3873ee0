"""The torch-stack check: one line naming the versions and the fix when torchaudio or the Higgs tokenizer fails."""

import subprocess
import sys
from importlib import metadata

from model.runtime import FIX, check_torch_stack


def test_the_locked_stack_loads() -> None:
    assert check_torch_stack() is None


def test_a_torchaudio_that_does_not_load_is_one_line_with_the_versions_and_the_fix() -> None:
    # A None entry in sys.modules makes the import fail as a broken wheel would, in a fresh interpreter.
    script = (
        "import sys; sys.modules['torchaudio'] = None; from model.runtime import check_torch_stack; "
        "print(check_torch_stack())"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    line = out.strip()
    assert "\n" not in line
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("torch", "torchaudio", "transformers"))
    assert line.startswith(f"The torch stack does not load ({versions}): ")
    assert "torchaudio" in line.split("): ", 1)[1]
    assert line.endswith(FIX)


def test_the_install_step_exits_non_zero_on_a_broken_stack() -> None:
    script = (
        "import sys, runpy; sys.modules['torchaudio'] = None; runpy.run_module('model.runtime', run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(FIX)
