"""The README's settings table is the user's reference: it must be exactly the table
generated from `Settings` (every field, its current default and description)."""

from __future__ import annotations

from assistant.settings import Settings, settings_table


def test_readme_settings_table_is_the_generated_one(project_dir):
    readme = (project_dir / "README.md").read_text(encoding="utf-8")
    table = settings_table()
    assert table.count("\n") == len(Settings.model_fields) + 1  # header, rule, one row per field
    assert table in readme, ("README.md's settings table is out of date; regenerate it with "
                             "`python -c \"from assistant.settings import settings_table; print(settings_table())\"`")


def test_every_setting_is_described_and_in_one_group():
    from assistant.settings import groups

    grouped = groups()
    assert list(grouped) == ["index", "retrieval", "answer", "llm"]
    assert sorted(n for names in grouped.values() for n in names) == sorted(Settings.model_fields)
    assert all(field.description for field in Settings.model_fields.values())
    assert "embed_model" in grouped["index"] and "rrf_k" in grouped["retrieval"]
    assert "abstain_threshold" in grouped["answer"] and "llm_model" in grouped["llm"]


def test_settings_are_immutable():
    import pydantic
    import pytest

    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.top_k = 3  # a variant is settings.model_copy(update=...), passed to the call that needs it
    assert settings.model_copy(update={"top_k": 3}).top_k == 3 and settings.top_k != 3
