"""Docs cannot rot: every command has help and is in the README; the public API is exact."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

import store
from store.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _commands() -> dict[str, Any]:
    root: Any = typer.main.get_command(app)
    out: dict[str, Any] = {}
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):
            out.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            out[name] = cmd
    return out


def test_every_command_has_help_and_is_documented() -> None:
    commands = _commands()
    assert {"quickstart", "apply", "plan", "training-frame", "materialize", "get"} <= set(commands)
    for name, cmd in commands.items():
        assert cmd.help and len(cmd.help.split()) >= 5, f"`parity {name}` needs --help text"
        assert f"parity {name}" in README, f"`parity {name}` is missing from README.md"
        for param in cmd.params:
            if getattr(param, "param_type_name", "") == "option" and param.name != "help":
                assert param.help, f"`parity {name}` option {param.opts[0]} has no help"


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:1500]
    assert "parity quickstart" in head
    assert re.search(r"<!-- test-command -->\n```bash\n(.+)\n```", head)


def test_public_api_is_exactly_all() -> None:
    public = {n for n in dir(store) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(store, n)).__name__ == "module"}
    assert public - modules == set(store.__all__) - {"__version__"}
    for name in store.__all__:
        assert getattr(store, name) is not None
