"""Shared fixtures (a per-run cache for tiny models, the tiny and tiny-higgs profiles' models) and two checks before
any test.

The torch stack is checked first, so a broken wheel pair is one line rather than an error in every module that
imports a model. Tests marked `speech` read the held speech: without it they skip, saying where it was expected,
unless `S2ST_REQUIRE_SPEECH` is set (CI sets it), when the run stops at once instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import missing_speech
from model.runtime import check_torch_stack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "speech: reads the held real speech in ../shared/data/speech")
    if problem := check_torch_stack():
        pytest.exit(problem, returncode=3)
    if os.environ.get("S2ST_REQUIRE_SPEECH") and (problem := missing_speech()):
        pytest.exit(f"{problem} (S2ST_REQUIRE_SPEECH is set, so the tests that need it cannot be skipped)", 3)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("speech") and (problem := missing_speech()):
        pytest.skip(problem)


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny models are built once per test run, never in the user's own cache."""
    path = tmp_path_factory.mktemp("s2st-cache")
    os.environ["S2ST_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_cache: Path) -> dict[str, Path]:
    """The tiny models where the `tiny:` sources find them, so the whole run builds them once."""
    from model.tiny import make_tiny

    return make_tiny(tiny_cache / "tiny")


@pytest.fixture(scope="session")
def tiny_models(tiny_cache: Path):
    """The tiny profile: real Kokoro speech, the random tiny translator."""
    from agent.config import load_config
    from agent.models import load_models

    return load_models(load_config("tiny"))


@pytest.fixture(scope="session")
def tiny_higgs_models(tiny_cache: Path):
    """The tiny-higgs profile: the random tiny Higgs, which speaks every language, fast and noise-like."""
    from agent.config import load_config
    from agent.models import load_models

    return load_models(load_config("tiny-higgs"))
