"""The ``moviegenre`` console script. Importing the CLI (Typer, Rich, every command's module) takes a third of a
second, in which the CLI does not handle Ctrl-C yet: it is imported here, so that Ctrl-C then is one line too, not a
traceback. Nothing but the standard library is imported before it, so commands start no slower."""

from __future__ import annotations

import signal
import sys

INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C ended


def main() -> None:
    """The CLI's ``main``; Ctrl-C it does not handle itself (during the import) is the line ``interrupted`` and exit
    code 130. No command has started then, so none says how to go on (train's --resume would find nothing)."""
    try:
        from moviegenre.cli import main as cli_main
        cli_main()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C as Python shuts down is no traceback either
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)
