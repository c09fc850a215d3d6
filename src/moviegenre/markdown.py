"""Anyone's text (a title, genre, file name, description) written into a markdown report as itself: never markup.

Shared by the evaluation and audit reports and ``compare.md``; standard library only, so the web service can
import it without the plotting stack.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from urllib.parse import quote

# What would be markup in one line of a table cell, heading or paragraph: a cell's end (|), the escape itself, code,
# emphasis and strikethrough, HTML and autolinks (< >), links and images ([ ]), and an HTML entity's & ("&amp;" would
# render as "&"). An underscore between two letters or digits never emphasises (CommonMark), so file names and ids
# such as my_poster_v2 stay as they are.
_MARKUP = re.compile(r"[|\\`*~<>\[\]]|&(?=#?\w+;)|(?<![^\W_])_|_(?![^\W_])")


def markdown_text(text: str, width: int | None = None) -> str:
    """``text`` (a title, genre, file name, description: anyone's) as one line of markdown that renders as itself,
    so it can neither end its table row, split its cell, nor become HTML, a link, an image or formatting;
    ``width``: shortened to about that many characters first."""
    line = " ".join(text.split())
    if width:
        line = textwrap.shorten(line, width, placeholder="…")
    return _MARKUP.sub(r"\\\g<0>", line)


def markdown_code(text: str) -> str:
    """``text`` (a file name) as a code span in a table cell, shown exactly: a markdown escape would show its
    backslash there, so the fence is longer than any run of backticks in it, a line break is a space and a pipe is
    the table's own escape (GFM reads \\| in a cell, code span or not, as |)."""
    line = re.sub(r"[\r\n]+", " ", text).replace("|", "\\|")
    fence = "`" * (1 + max(map(len, re.findall("`+", line)), default=0))
    pad = " " if line[:1] in ("`", " ") or line[-1:] in ("`", " ") else ""  # one space each side is stripped
    return f"{fence}{pad}{line}{pad}{fence}"


def markdown_image(path: Path) -> str:
    """An image beside the report, linked by its name (URL-encoded: a space or parenthesis would end the link)."""
    return f"![{markdown_text(path.stem)}]({quote(path.name)})"
