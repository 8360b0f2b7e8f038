"""The README's settings table is the user's reference: every field of
`Settings` is listed there with its current default and description."""

from __future__ import annotations

from pathlib import Path

from assistant.settings import PROJECT_DIR, Settings


def _rows() -> dict[str, tuple[str, str]]:
    """First cell (the variable names) -> (default, description), from README.md."""
    rows = {}
    for line in (PROJECT_DIR / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and "PAPERS_" in cells[0]:
            rows[cells[0]] = (cells[1].strip("`"), cells[2])
    return rows


def test_every_setting_is_documented_with_its_default_and_description():
    rows = _rows()
    for name, field in Settings.model_fields.items():
        names = (field.validation_alias.choices if field.validation_alias is not None else [f"PAPERS_{name.upper()}"])
        key = " / ".join(f"`{n}`" for n in names)
        assert key in rows, f"README settings table lacks {key}"
        default = field.default
        shown = "./" + str(default.relative_to(PROJECT_DIR)) if isinstance(default, Path) else str(default)
        assert rows[key] == (shown, field.description), f"README row for {key} is out of date"
    assert len(rows) == len(Settings.model_fields), "README lists a setting that does not exist"
