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
