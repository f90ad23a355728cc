"""Cold command paths: `mlsd --help` loads no command module, a command loads only its own,
and what the commands print is what the eager CLI printed (speed itself: bench/bench_cold.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import ROOT, run_cli

HEAVY = ("chromadb", "onnxruntime", "torch", "langchain", "ragas", "streamlit", "llama_index")
# what help must not need either: settings (pydantic-settings) and the command modules
NOT_FOR_HELP = ("pydantic_settings", "core.settings", "cli.common", "numpy", "tokenizers")

LIST_MODULES = """
import atexit, json, sys
def _dump():
    sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
atexit.register(_dump)
sys.argv = ["mlsd", *sys.argv[1:]]
from cli.main import main
main()
"""


def modules_loaded(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the CLI in a subprocess and return it with the modules it had imported at exit."""
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.run(
        [sys.executable, "-c", LIST_MODULES, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return proc, set(json.loads(line[len("MODULES ") :]))


def loaded_any(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def eager_app() -> typer.Typer:
    """The CLI as it was built before lazy loading: every module imported and registered."""
    import importlib

    from cli.main import COMMAND_MODULES, _root

    app = typer.Typer(
        name="mlsd",
        help="mlsd-coach: study ML system design interviews — search, ask, critique, evaluate.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def test_help_imports_no_heavy_library_nor_settings():
    proc, modules = modules_loaded("--help")
    assert proc.returncode == 0, proc.stderr
    assert "search" in proc.stdout and "critique" in proc.stdout
    assert loaded_any(modules, HEAVY) == []
    assert loaded_any(modules, NOT_FOR_HELP) == []
    from cli.main import COMMAND_MODULES

    assert loaded_any(modules, tuple(COMMAND_MODULES)) == []


def test_a_command_imports_only_its_own_module():
    proc, modules = modules_loaded("stats", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "cli.store_cmds" in modules
    others = ("cli.eval_cmd", "cli.agent_cmds", "cli.critique_cmd", "cli.progress_cmd")
    assert loaded_any(modules, others) == []


@pytest.mark.parametrize("args", [["--help"], [], ["search", "--help"], ["eval", "--help"]])
def test_help_text_is_the_eager_clis(args):
    from cli.main import app

    runner = CliRunner()
    env = {"COLUMNS": "100", "TERM": "dumb"}
    lazy = runner.invoke(app, args, prog_name="mlsd", env=env)
    eager = runner.invoke(eager_app(), args, prog_name="mlsd", env=env)
    assert lazy.exit_code == eager.exit_code
    assert lazy.output == eager.output
    assert "Commands" in lazy.output or "Options" in lazy.output


def test_every_command_is_listed_and_resolvable():
    from typer.main import get_command

    from cli.main import app

    eager = sorted(get_command(eager_app()).commands)
    group = get_command(app)
    assert sorted(group.commands) == eager
    for name in eager:  # each loads to the same parameters as the eager command
        assert group.commands[name].callback is not None


def test_typo_still_gets_a_suggestion():
    result = run_cli("serch", "x")
    assert result.returncode == 2
    assert "search" in result.stderr


def test_module_that_cannot_be_read_statically_is_imported(tmp_path, monkeypatch):
    """A `register` doing more than `app.command(...)(fn)` is still listed (by importing it)."""
    package = tmp_path / "lazyprobe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "odd.py").write_text(
        textwrap.dedent(
            '''
            import typer

            def hello() -> None:
                """Say hello."""
                typer.echo("hello")

            def register(app: typer.Typer) -> None:
                for fn in (hello,):
                    app.command()(fn)
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from cli.lazy import lazy_group, read_module

    assert read_module("lazyprobe.odd") is None
    app = typer.Typer(no_args_is_help=True, cls=lazy_group(["cli.store_cmds", "lazyprobe.odd"]))
    app.callback()(lambda: None)
    runner = CliRunner()
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert "hello" in listing.output and "Say hello." in listing.output
    assert "search" in listing.output
    ran = runner.invoke(app, ["hello"])
    assert ran.exit_code == 0 and ran.output.strip() == "hello"


EAGER_CLI = """
import sys
sys.argv = ["mlsd", *sys.argv[1:]]
from tests.test_cold_paths import eager_app
eager_app()(prog_name="mlsd")
"""


def test_search_output_is_the_eager_clis(corpus_settings):
    """`mlsd search` through the lazy group prints what the eagerly built CLI printed."""
    from core.settings import Settings

    query = "how do I avoid data leakage with a temporal split"
    env = {
        **os.environ,
        "MLSD_STORE_DIR": str(corpus_settings.store_dir),
        "MLSD_MODEL_CACHE_DIR": str(Settings().model_cache_dir),
    }
    args = ["search", query, "-k", "5"]
    outputs = []
    for cmd in ([sys.executable, "-m", "cli"], [sys.executable, "-c", EAGER_CLI]):
        for extra in ([], ["--json"]):
            proc = subprocess.run(
                [*cmd, *args, *extra], capture_output=True, text=True, cwd=ROOT, env=env
            )
            assert proc.returncode == 0, proc.stderr
            outputs.append(proc.stdout)
    lazy_text, lazy_json, eager_text, eager_json = outputs
    lazy_hits, eager_hits = json.loads(lazy_json), json.loads(eager_json)
    assert len(lazy_hits) == 5
    assert [h["chunk_id"] for h in lazy_hits] == [h["chunk_id"] for h in eager_hits]
    # Chroma's HNSW top-100 differs in its tail between processes (the query vector does not),
    # and the dense min-max floor comes from that tail: fused scores move by ~2e-4 run to run.
    for got, want in zip(lazy_hits, eager_hits):
        assert got["score"] == pytest.approx(want["score"], abs=2e-3)
        assert got["dense_score"] == pytest.approx(want["dense_score"], abs=1e-5)
    assert lazy_text.splitlines()[0] == eager_text.splitlines()[0] == f"# {query}"


def test_command_modules_import_without_settings():
    """A command can speak (eval's first progress line) before pydantic-settings loads."""
    code = (
        "import sys, json, cli.common, cli.eval_cmd, cli.store_cmds\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout))
    assert loaded_any(modules, ("pydantic_settings", "core.settings", *HEAVY)) == []
