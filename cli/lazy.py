"""Command modules load only when one of their commands runs.

`mlsd --help` lists every command without importing any command module: each module's
source is read statically (`ast`) for what its `register(app)` adds, `app.command(...)(fn)`
calls, and the listing uses the name and `fn`'s docstring, exactly as typer would. Running a
command, or asking for its own help, imports its module and registers it for real. A module
whose `register` does anything else is imported at listing time instead (still correct, just
not lazy). So a cold `mlsd search` imports cli.store_cmds and what it needs, nothing else.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from inspect import cleandoc
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# app.command(...) keywords that change how a command is listed; any other is irrelevant there
_LISTED = ("name", "help", "short_help", "hidden", "deprecated", "rich_help_panel")


@dataclass
class Listed:
    """What the top-level help shows of one command (read from source, not imported)."""

    name: str
    module: str
    options: dict = field(default_factory=dict)  # help, short_help, hidden, ...


def _command_calls(register: ast.FunctionDef) -> list[tuple[ast.Call, str]] | None:
    """(the `app.command(...)` call, the function name) per statement, or None if any
    statement is something else (the module is then imported to list it)."""
    found = []
    for stmt in register.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Call)
            and isinstance(call.func.func, ast.Attribute)
            and call.func.func.attr == "command"
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Name)
        ):
            return None
        found.append((call.func, call.args[0].id))
    return found


def read_module(module: str) -> list[Listed] | None:
    """The commands `module.register(app)` adds, from its source; None if it cannot be told."""
    try:
        spec = importlib.util.find_spec(module)
        with open(spec.origin, encoding="utf-8") as handle:  # type: ignore[union-attr]
            tree = ast.parse(handle.read())
    except (ImportError, AttributeError, TypeError, OSError, SyntaxError, ValueError):
        return None
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    register = functions.get("register")
    calls = _command_calls(register) if register else None
    if not calls:
        return None
    listed = []
    for decorator, fn_name in calls:
        options = {}
        if decorator.args:
            options["name"] = decorator.args[0]
        options.update({kw.arg: kw.value for kw in decorator.keywords if kw.arg in _LISTED})
        if any(not isinstance(value, ast.Constant) for value in options.values()):
            return None
        options = {key: value.value for key, value in options.items()}  # type: ignore[attr-defined]
        if fn_name not in functions:
            return None
        name = options.pop("name", None) or typer.main.get_command_name(fn_name)
        if options.get("help") is None:  # typer: the docstring, cleaned like inspect.getdoc
            options["help"] = ast.get_docstring(functions[fn_name])
        else:
            options["help"] = cleandoc(options["help"])
        listed.append(Listed(name=name, module=module, options=options))
    return listed


class LazyCommands(MutableMapping):
    """The group's `commands`: every name is known up front, a command is built on first use."""

    def __init__(self, group: LazyGroup, modules: list[str]) -> None:
        self._group = group
        self._modules = modules
        self._built: dict[str, Any] = {}  # name -> click command
        self._listed: dict[str, Listed] | None = None
        self._imported: set[str] = set()

    def listed(self) -> dict[str, Listed]:
        if self._listed is None:
            self._listed = {}
            for module in self._modules:
                entries = read_module(module)
                if entries is None:  # cannot be read statically: import and register it now
                    self._import(module)
                    entries = [Listed(name=n, module=module) for n in self._names_of(module)]
                for entry in entries:
                    self._listed.setdefault(entry.name, entry)
        return self._listed

    def _names_of(self, module: str) -> list[str]:
        return [name for name, cmd in self._built.items() if getattr(cmd, "_module", "") == module]

    def _import(self, module: str) -> None:
        if module in self._imported:
            return
        self._imported.add(module)
        sub = typer.Typer()
        importlib.import_module(module).register(sub)
        for info in sub.registered_commands:
            command = typer.main.get_command_from_info(
                info,
                pretty_exceptions_short=self._group.pretty_exceptions_short,
                rich_markup_mode=self._group.rich_markup_mode,
            )
            command._module = module  # type: ignore[attr-defined]
            self._built.setdefault(command.name or "", command)

    def stub(self, name: str) -> TyperCommand | None:
        """A command with the listing's name and help only (for `mlsd --help`)."""
        if name in self._built:
            return self._built[name]  # type: ignore[return-value]
        entry = self.listed().get(name)
        if entry is None:
            return None
        mode = self._group.rich_markup_mode
        return TyperCommand(name=name, rich_markup_mode=mode, **entry.options)

    def __getitem__(self, name: str):
        if name not in self._built:
            entry = self.listed().get(name)
            if entry is not None:
                self._import(entry.module)
        return self._built[name]

    def __setitem__(self, name: str, command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._built.pop(name, None)
        if self._listed is not None:
            self._listed.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        names = list(self.listed())
        return iter(names + [name for name in self._built if name not in names])

    def __len__(self) -> int:
        return len(list(iter(self)))


class LazyGroup(TyperGroup):
    """The root group: lists commands from source, imports a module when a command runs."""

    modules: list[str] = []  # the command modules, in help order (a subclass sets them)
    pretty_exceptions_short = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        eager = dict(self.commands)
        self.commands = LazyCommands(self, self.modules)
        self.commands.update(eager)
        self._listing = False

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # names only (typer's own reads every command)

    def get_command(self, ctx, cmd_name: str):
        if self._listing:
            return self.commands.stub(cmd_name)
        return self.commands.get(cmd_name)

    def format_help(self, ctx, formatter) -> None:
        self._listing = True  # the listing needs names and help texts, not the commands
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def lazy_group(modules: list[str], pretty_exceptions_short: bool = True) -> type[LazyGroup]:
    """A root group class over `modules` (the list itself: later appends are seen)."""
    return type(
        "MlsdGroup",
        (LazyGroup,),
        {"modules": modules, "pretty_exceptions_short": pretty_exceptions_short},
    )
