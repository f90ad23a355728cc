"""The `mlsd` entry point. Each command module adds its commands with `register(app)`."""

from __future__ import annotations

import importlib

import typer

from cli.common import setup_logging

app = typer.Typer(
    name="mlsd",
    help="mlsd-coach: study ML system design interviews — search, ask, critique, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, in help order. A module that fails to import is a bug, not a user error.
COMMAND_MODULES = [
    "cli.store_cmds",
    "cli.eval_cmd",
    "cli.agent_cmds",
    "cli.critique_cmd",
    "cli.progress_cmd",
]


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress.")) -> None:
    setup_logging(verbose)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
