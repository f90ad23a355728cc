"""The `mlsd` entry point. Each command module adds its commands with `register(app)`.

Modules are imported only when one of their commands runs (cli/lazy.py): `mlsd --help` reads
the command list from their source, so it never pays for settings, stores or models.
"""

from __future__ import annotations

import typer

from cli.lazy import lazy_group

# Command modules, in help order. A module that fails to import is a bug, not a user error.
COMMAND_MODULES = [
    "cli.store_cmds",
    "cli.eval_cmd",
    "cli.agent_cmds",
    "cli.critique_cmd",
    "cli.progress_cmd",
]

app = typer.Typer(
    name="mlsd",
    help="mlsd-coach: study ML system design interviews — search, ask, critique, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=lazy_group(COMMAND_MODULES),
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress.")) -> None:
    from cli.common import setup_logging  # not at import: `mlsd --help` needs no settings

    setup_logging(verbose)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
