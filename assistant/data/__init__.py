"""Files shipped inside the package: the prompt templates and the bundled corpus.

In the repository they live in top-level folders, `prompts/` and `indexes/sources/`.
pyproject.toml maps those folders into this package (`assistant.data.prompts` is
`prompts/`, `assistant.data.indexes` is `indexes/`, package-dir), so a built wheel holds
them under `assistant/data/` and an editable install (`pip install -e .`) reads them in
place. Reach them through the functions below (importlib.resources), never through a
path relative to a source file: the checkout is not there in an installed copy."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _folder(package: str, *parts: str) -> Path:
    try:
        found = files(package).joinpath(*parts)
    except ModuleNotFoundError:
        raise RuntimeError(
            f"{package} is not installed: the prompts and the bundled corpus come with the "
            f"installed package; install it (pip install -e . in the repository, or the wheel)"
        ) from None
    if not isinstance(found, Path):  # e.g. imported from a zip: the files have no path of their own
        raise RuntimeError(
            f"{package}: the package data is not in a folder ({found}); "
            f"install paper-assistant unpacked (pip install) to use it"
        )
    return found


def prompts_dir() -> Path:
    """The packaged prompt templates, `<name>.txt` (prompts/ in the repository)."""
    return _folder("assistant.data.prompts")


def indexes_dir() -> Path:
    """The packaged `indexes/` folder: the bundled corpus is its `sources/` (indexes/ in the
    repository; only sources/ is shipped in a wheel, indexes are never written here)."""
    return _folder("assistant.data.indexes")


def corpus_dir() -> Path:
    """The bundled corpus: five real pages, shipped unchanged (indexes/sources/ in the repository)."""
    return indexes_dir() / "sources"
