"""The ``moviegenre`` Typer app and its error boundary. Command modules register on ``app``."""

from __future__ import annotations

import errno
import sys

import typer
import typer.core
from rich.console import Console

from moviegenre.errors import MovieGenreError

# Typer's help labels flags '<bool>' as if they took a value: a flag (--json, --help) shows no type.
_display_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else _display_type(self, ctx)

app = typer.Typer(help="Predict a movie's genres from its poster, its description, or both.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Inspect and split movie tables.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# The machine's refusals, not the program's: a read-only folder, a full disk. Any other OSError stays a traceback (a bug).
_REFUSED, _FULL = "check its permissions or choose another path", "free some space or choose another folder"
_MACHINE_ERRORS = {errno.EACCES: _REFUSED, errno.EPERM: _REFUSED, errno.EROFS: "choose a writable folder",
                   errno.ENOSPC: _FULL, errno.EDQUOT: _FULL}

console = Console()
err_console = Console(stderr=True)


def run() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 2.

    Typer runs in standalone mode, so it reports its own usage errors (exit 2), prints help and turns
    ``typer.Exit``/``typer.Abort`` into exit codes; only our errors need handling here.
    """
    # Piped output goes to programs and files: no line is broken at a guessed width of 80 columns.
    console.soft_wrap = not console.is_terminal
    try:
        app()
    except MovieGenreError as error:
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as error:
        if error.errno not in _MACHINE_ERRORS:
            raise
        where = f"{error.filename}: " if error.filename else ""
        err_console.print(f"error: {where}{error.strerror} ({_MACHINE_ERRORS[error.errno]})", markup=False,
                          highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("aborted", markup=False)
        sys.exit(130)
