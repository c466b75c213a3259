"""The README stays true: it documents every setting and opens with the two commands."""

from __future__ import annotations

from pathlib import Path

from shared.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        env = field.validation_alias if isinstance(field.validation_alias, str) else f"STUDYHALL_{name.upper()}"
        assert f"`{env}`" in README, f"README does not document {env}"


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:1500]
    assert "make dev" in head and "make test" in head
