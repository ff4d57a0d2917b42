"""The ``persona-iaa`` command. Sub-commands stay thin: parse, call the library, print.

Each module of this package registers its sub-commands with :func:`command` in :data:`COMMANDS`.
Building the parser imports no torch (``--help`` starts fast): argument set-up reads its choices
from torch-free modules, and handlers import the library when they run.
The library's log records are printed on stderr for the length of a command (:mod:`.logs`).
Exit status: 0 success, 2 usage or input error (one line on stderr), 3 some images failed to score.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from typing import Any, Callable, Optional, Sequence

from .. import __version__
from ..errors import PersonaIAAError
from ..registry import Registry
from ..terminal import printable
from .logs import terminal_logging

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3
Handler = Callable[[argparse.Namespace], int]
ArgumentAdder = Callable[[argparse.ArgumentParser], None]


@dataclasses.dataclass(frozen=True)
class Command:
    """One sub-command: what builds its arguments, what runs it, its one-line help."""

    add_arguments: ArgumentAdder
    handler: Handler
    help: str


#: Every sub-command by name, in help order (a second command under a taken name is refused).
COMMANDS: Registry[Command] = Registry("command")

#: Modules under persona_iaa.cli whose import registers sub-commands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "train", "evaluate", "reproduce", "figure", "score", "export", "explain", "serve", "data", "demo",
    "personal",
)


def command(name: str, help: str, add_arguments: ArgumentAdder) -> Callable[[Handler], Handler]:
    """Register a sub-command: ``add_arguments`` builds its parser, the decorated function handles it."""

    def decorate(handler: Handler) -> Handler:
        COMMANDS.add(name, Command(add_arguments, handler, help))
        return handler

    return decorate


def print_json(data: Any) -> None:
    from ..evaluation.metrics import json_safe

    print(json.dumps(json_safe(data), indent=2, allow_nan=False))


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    parser = argparse.ArgumentParser(
        prog="persona-iaa", description="Personality-driven multi-task image aesthetic assessment."
    )
    parser.add_argument("--version", action="version", version=f"persona-iaa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        entry = COMMANDS.get(name)
        p = sub.add_parser(name, help=entry.help, description=entry.help)
        entry.add_arguments(p)
        p.set_defaults(handler=entry.handler)
    return parser


def parse_arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line, with KEY=VALUE overrides accepted after options too.

    Why: argparse assigns positionals between options only once, so ``reproduce table2 --seeds 3
    train.epochs=5`` would leave the trailing override unrecognised; such leftovers go to the
    command's ``overrides`` when it takes them, anything else is the usual usage error.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    overrides = getattr(args, "overrides", None)
    if extra and overrides is not None and all("=" in item and not item.startswith("-") for item in extra):
        args.overrides = list(overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_arguments(argv)
    with terminal_logging():
        try:
            return args.handler(args)
        except PersonaIAAError as exc:
            # a message may quote a hostile file name: escape each line, keep the lines
            message = "\n".join(printable(line) for line in str(exc).splitlines())
            print(f"error: {message}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
