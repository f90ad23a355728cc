"""The README documents every setting and every CLI command (docs drift is a bug)."""

from __future__ import annotations

from conftest import ROOT

from core.settings import Settings


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.append(str(choices[0]) if choices else f"MLSD_{name.upper()}")
    return names


def test_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in env_names() if f"`{name}`" not in readme]
    assert not missing, f"README configuration table lacks: {missing}"


def test_readme_lists_every_cli_command():
    from typer.main import get_command

    from cli.main import app

    readme = (ROOT / "README.md").read_text()
    commands = sorted(get_command(app).commands)
    assert {"ingest", "search", "stats"} <= set(commands)
    missing = [c for c in commands if f"mlsd {c}" not in readme]
    assert not missing, f"README CLI reference lacks: {missing}"
