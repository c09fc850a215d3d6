"""The ``moviegenre`` Typer app and its error boundary. Command modules register on ``app``."""

from __future__ import annotations

import errno
import re
import signal
import sys
import threading
from pathlib import Path

import typer
import typer._click.exceptions
import typer.core
import typer.rich_utils
from rich.console import Console

from moviegenre._entry import INTERRUPTED_EXIT
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


def _one_line_usage_error(error: Exception) -> None:
    """Print Click's refusal of the arguments (an unknown option, a value out of range) as one line, as ours are.

    Typer draws it as a usage line, a hint line and a framed panel (Click, with TYPER_USE_RICH=0: four lines); a
    script reading stderr wants one line.
    """
    # Typer has printed the help, which is the answer; matched by name, as Typer does: the class is of the copy of
    # Click that Typer bundles, not of the click package.
    if type(error).__name__ == "NoArgsIsHelpError":
        return
    message = "; ".join(part for part in re.split(r"\s*\n\s*|\s{2,}", error.format_message().strip()) if part)
    if message.endswith(".") and not message.endswith(".."):  # the hint in brackets ends the sentence
        message = message[:-1]
    ctx = getattr(error, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    err_console.print(f"error: {message}{hint}", markup=False, highlight=False, soft_wrap=True)


def non_empty_path(value: str) -> Path:
    """A path argument's parser: an empty one (an unset shell variable) would be Path('.'), the current folder."""
    if not value:
        raise typer.BadParameter("an empty path (give a file or folder name)")
    return Path(value)


# Typer looks this function up when it reports a usage error, so replacing it here changes every command's report;
# with TYPER_USE_RICH=0 it calls the error's own ``show`` instead (of the copy of Click that Typer bundles).
typer.rich_utils.rich_format_error = _one_line_usage_error
typer._click.exceptions.UsageError.show = lambda self, file=None: _one_line_usage_error(self)

# What Ctrl-C leaves to do: the commands that pick up where an interrupted run stopped say how.
_AGAIN = "run the same command again to continue"
_INTERRUPTED_HINTS = {"train": "run the same command with --resume to continue", "audit": _AGAIN,
                      "predict-table": _AGAIN, "scrape": _AGAIN}


def run() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 2, Ctrl-C one line and 130.

    Typer runs in standalone mode, so it reports its own usage errors (exit 2), prints help and turns
    ``typer.Exit``/``typer.Abort`` into exit codes (a KeyboardInterrupt into a silent exit 130); only our errors
    need handling here.
    """
    # Piped output goes to programs and files: no line is broken at a guessed width of 80 columns.
    console.soft_wrap = not console.is_terminal
    interrupted = threading.Event()
    previous = _note_interrupts(interrupted)
    try:
        app(prog_name="moviegenre")  # not 'python -m ...' in the usage hints when run as a module
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
    except KeyboardInterrupt:  # one Typer did not see (raised as it exited)
        _exit_interrupted()
    except SystemExit as exit_:
        # Typer's 130 for a KeyboardInterrupt (Ctrl-C, or SIGTERM where scrape turns it into one), or another failing
        # code after Ctrl-C: Lightning catches the KeyboardInterrupt itself and exits with 1.
        if exit_.code == INTERRUPTED_EXIT or (interrupted.is_set() and exit_.code not in (0, None)):
            _exit_interrupted()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def main() -> None:
    """What the console script (``moviegenre._entry``) runs: ``run``, then Ctrl-C ignored while Python shuts down. A
    command that has said it is done (its file written) exited 130, and a scheduler read a failure, where the signal
    came as torch and ONNX Runtime unloaded."""
    try:
        run()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _note_interrupts(interrupted: threading.Event):
    """Have Ctrl-C set ``interrupted`` as it raises KeyboardInterrupt (as Python's own handler does), so that an exit
    a library makes of it is known for one; returns the handler it replaced (None where none could be set)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:  # SIGINT ignored (a background job) or handled by the caller
        return None

    def interrupt(signum, frame):
        interrupted.set()
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, interrupt)
    return previous


def _exit_interrupted():
    """One line saying the command was interrupted (and how to go on, where it can), then exit 130."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:  # a bar the interrupt left open (training's, embedding's) ends its line first, not after ours
        for bar in list(getattr(tqdm.tqdm, "_instances", ())):
            bar.close()
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")
    hint = _INTERRUPTED_HINTS.get(command)
    err_console.print(f"interrupted ({hint})" if hint else "interrupted", markup=False, highlight=False,
                      soft_wrap=True)
    sys.exit(INTERRUPTED_EXIT)
