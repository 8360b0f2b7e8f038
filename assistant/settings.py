"""All configuration in one place. Every field can be set from the
environment with the `PAPERS_` prefix (e.g. `PAPERS_INDEX_DIR=/data/idx`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERS_", extra="ignore")

    index_dir: Path = Field(
        PROJECT_DIR / "indexes",
        description="Folder that holds the indexes (one sub-folder per index name).")
    index_name: str = Field(
        "default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Name of the index to open or build inside index_dir.")
    corpus_dir: Path = Field(
        PROJECT_DIR / "indexes" / "sources",
        description="Bundled corpus: the pages ingested when the default index is built.")

    @property
    def index_path(self) -> Path:
        return self.index_dir / self.index_name
