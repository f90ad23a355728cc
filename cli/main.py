"""The `mlsd` entry point. Each command module adds its commands with `register(app)`.

Modules are imported only when one of their commands runs (cli/lazy.py): `mlsd --help` reads
the command list from their source, so it never pays for settings, stores or models.
`mlsd progress [--json] [--since DATE]` is answered by cli/quick.py before typer is imported
(it must answer within a second); every other command line goes to the typer `app`, which is
built on first use (`from cli.main import app` works as before).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

# Command modules, in help order. A module that fails to import is a bug, not a user error.
COMMAND_MODULES = [
    "cli.store_cmds",
    "cli.eval_cmd",
    "cli.agent_cmds",
    "cli.critique_cmd",
    "cli.progress_cmd",
]


def _define_root() -> Any:
    import typer

    def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress.")) -> None:
        from cli.common import setup_logging  # not at import: `mlsd --help` needs no settings

        setup_logging(verbose)

    return _root


def _build_app() -> typer.Typer:
    import typer

    from cli.lazy import lazy_group

    app = typer.Typer(
        name="mlsd",
        help="mlsd-coach: study ML system design interviews — search, ask, critique, evaluate.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=lazy_group(COMMAND_MODULES),
    )
    app.callback()(__getattr__("_root"))
    return app


def __getattr__(name: str) -> Any:
    """`app` and `_root`, built once on first use (typer is imported then, not before)."""
    builders = {"app": _build_app, "_root": _define_root}
    if name not in builders:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals().get(name)
    if value is None:
        value = globals()[name] = builders[name]()
    return value


def main() -> None:
    args = sys.argv[1:]
    if "progress" in args[:2]:  # `[-v] progress ...`: other command lines skip this import
        from cli.quick import answer  # standard library and the progress reader only

        code = answer(args)
        if code is not None:
            raise SystemExit(code)
    __getattr__("app")()


if __name__ == "__main__":
    main()
