"""The one exception family users see: one line, naming the file/row/field and what to do."""

from __future__ import annotations


class MovieGenreError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits 2 instead of a traceback."""


class DataError(MovieGenreError):
    """A table, file or field is unusable as given."""

    def __init__(self, source: object, problem: str, *, row: int | None = None,
                 field: str | None = None, hint: str = "") -> None:
        where = str(source)
        if row is not None:
            where += f": row {row}"
        if field is not None:
            where += f", field '{field}'" if row is not None else f": field '{field}'"
        message = f"{where}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)
        self.source, self.row, self.field, self.problem, self.hint = source, row, field, problem, hint


class ImageError(DataError):
    """An image that cannot be used: not an image, truncated, too large."""


class ConfigError(MovieGenreError):
    """An unknown name or an option that cannot be honoured (unknown model, encoder, run folder)."""


def first_line(error: Exception) -> str:
    """A library error's message cut to one line for ours (its type's name when it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def utf8_text(text: str | None, field: str) -> str:
    """``text`` stripped, or a DataError naming ``field`` when it holds bytes that were not UTF-8.

    Python keeps undecodable bytes of command-line arguments as lone surrogates ("\\udcff"); they would
    only fail later, deep inside a tokenizer, as an encoding traceback.
    """
    text = text or ""
    if not isinstance(text, str):
        raise DataError(field, f"type {type(text).__name__} is not text", hint="give a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise DataError(field, f"not UTF-8 text (character {error.start + 1} is an undecodable byte)",
                        hint="give it in UTF-8") from None
    return stripped(text)


# Characters str.strip() keeps that show nothing: C0 controls (NUL, ...), DEL, zero-width spaces and joiners, BOM.
INVISIBLE = "".join(map(chr, range(32))) + "\x7f\u200b\u200c\u200d\u2060\ufeff"


def stripped(text: str) -> str:
    """``text`` stripped of white space, and "" when nothing visible is left: a NUL or a zero-width space alone is no
    description or title for a model to read."""
    text = text.strip()
    return text if text.strip(INVISIBLE).strip() else ""
