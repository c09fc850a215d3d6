"""Form text that is not in the form's charset (UTF-8 unless the request names another), caught as it streams in.

Starlette reads such a multipart field as Latin-1, and a url-encoded one with U+FFFD in place of the bad bytes,
without a word; by the time an endpoint sees the text, the bytes are gone. This middleware reads the same body
beside Starlette (python-multipart's parser, as Starlette's) and leaves the first bad field's one-line error in
``request.state.form_text_error``, which the form endpoints turn into a 422.
"""

from __future__ import annotations

import codecs
import urllib.parse

from python_multipart.multipart import MultipartParser, parse_options_header

from moviegenre.errors import DataError, utf8_text

MAX_FIELD_BYTES = 1024 * 1024  # Starlette's own limit on a form field; it refuses a longer one itself


def _problem(name: str, value: bytes, charset: str) -> str | None:
    """The one-line error for a field whose bytes are not text in ``charset``, else None."""
    try:
        utf8_text(value.decode(charset, errors="surrogateescape"), name)  # a bad byte stays as a lone surrogate
    except DataError as error:
        return str(error)
    return None


class _MultipartFields:
    """Checks each non-file part of a multipart body, fed as it arrives."""

    def __init__(self, boundary: bytes, charset: str) -> None:
        self.charset, self.problem, self._broken = charset, None, False
        self._header, self._value, self._disposition = b"", b"", b""
        self._name, self._data = None, bytearray()
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end})

    def feed(self, chunk: bytes) -> None:
        if self.problem is None and not self._broken:
            try:
                self._parser.write(chunk)
            except Exception:  # noqa: BLE001 - a malformed body: Starlette's own parse answers it
                self._broken = True

    def finish(self) -> None:
        """Nothing is left to check: each field is checked as its part ends."""

    def _begin(self) -> None:
        self._disposition, self._name, self._data = b"", None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = self._value
        self._header, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"filename" not in options:  # a file's bytes are the poster's, checked as an image
            self._name = options.get(b"name", b"").decode(self.charset, errors="replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name is not None and len(self._data) <= MAX_FIELD_BYTES:
            self._data += data[start:end]

    def _part_end(self) -> None:
        if self._name is not None and self.problem is None:
            self.problem = _problem(self._name, bytes(self._data), self.charset)


class _UrlEncodedFields:
    """Checks each field of a url-encoded body once it has all arrived (the body limit bounds it)."""

    def __init__(self) -> None:
        self.problem, self._body = None, bytearray()

    def feed(self, chunk: bytes) -> None:
        self._body += chunk

    def finish(self) -> None:
        for pair in bytes(self._body).split(b"&"):
            name, _, value = pair.partition(b"=")
            decoded = urllib.parse.unquote_to_bytes(value.replace(b"+", b" "))
            self.problem = _problem(urllib.parse.unquote_plus(name.decode("latin-1")), decoded, "utf-8")
            if self.problem:
                return


class FormTextCheck:
    """ASGI middleware: reads form bodies beside the app and records the first field that is not text."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        checker = _checker(dict(scope.get("headers", ())).get(b"content-type", b"")) \
            if scope["type"] == "http" else None
        if checker is None:
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})

        async def checked() -> dict:
            event = await receive()
            checker.feed(event.get("body", b""))
            if not event.get("more_body", False):
                checker.finish()
                state["form_text_error"] = checker.problem
            return event

        await self.app(scope, checked, send)


def _checker(content_type: bytes) -> _MultipartFields | _UrlEncodedFields | None:
    kind, options = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded":
        return _UrlEncodedFields()
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        return None
    charset = options.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:  # as Starlette: a charset Python does not know is read as Latin-1
        charset = "latin-1"
    return _MultipartFields(options[b"boundary"], charset)
