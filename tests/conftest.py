"""Shared fixtures: a per-run cache for tiny models and the tiny profile's models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
    from agent.config import load_config
    from agent.models import load_models

    return load_models(load_config("tiny"))
