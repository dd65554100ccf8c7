"""What every ``parity`` command shares: exit codes and the ``--features`` argument.

Exit codes are a promise: 0 ok, 1 an audit or validation found a problem, 2 bad usage, bad
input or any error; an interrupted command (Ctrl-C, an aborted prompt) is 2 with one line
``error: interrupted``, never click's 1 (which would read as "a problem found"). A library
error is printed as one red line; anything unexpected too (with its type), never a traceback
with exit code 1. ``PARITY_DEBUG=1`` prints the traceback as well.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO, cast

import typer
from rich.console import Console
from typer.core import TyperGroup

from store.errors import StoreError

USAGE_ERROR = 2
_err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print ``message`` as the command's error line; return the exit to raise (code 2)."""
    _err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(USAGE_ERROR)


class ErrorHandlingGroup(TyperGroup):
    """The top-level group: turns every error raised by a command into one line + exit 2."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer's vendored click Context
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, typer.Abort) as exc:  # Ctrl-C; click would exit 1
            raise fail("interrupted") from exc
        except (typer.Exit, typer.TyperException):
            raise  # the CLI's own: usage errors exit 2, typer.Exit keeps its code
        except StoreError as exc:
            raise fail(_escape(str(exc))) from exc
        except Exception as exc:
            if os.environ.get("PARITY_DEBUG"):
                traceback.print_exc()
            raise fail(
                _escape(f"unexpected {type(exc).__name__}: {exc}")
                + " (a bug in parity: please report it; PARITY_DEBUG=1 prints the traceback)"
            ) from exc


class _QuietWhenReaderGone:
    """stdout that, once its reader has gone (``parity --help | head``), writes to /dev/null
    instead of raising: the reader leaving is not an error of the command, so the command
    ends with its own exit code (0, or 1 for an alert) rather than rich's or click's 1."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def run(app: typer.Typer) -> None:
    """Run ``app`` as the ``parity`` script, its stdout quiet once its reader has gone."""
    sys.stdout = cast(TextIO, _QuietWhenReaderGone(sys.stdout))
    app()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def feature_spec(features: Sequence[str]) -> list[str] | str:
    """The ``--features`` option as the facade takes it: one bare name (a feature service or
    a view) as a string, anything else as the list of references."""
    items = list(features)
    if len(items) == 1 and ":" not in items[0]:
        return items[0]
    return items
