"""Read a title page's metadata: poster URL, short description, genres, type, name and year.

The ``application/ld+json`` block (schema.org) is read first: it is meant for machines and has outlived
several IMDb redesigns. The current layout's ``__NEXT_DATA__`` JSON fills whatever JSON-LD lacks, and
stands alone on pages that have no JSON-LD.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from moviegenre.data.table import MAX_GENRE_CHARS, MAX_GENRES, MAX_TITLE_CHARS

# What IMDb's __NEXT_DATA__ calls the titles that its JSON-LD marks "@type": "Movie".
NEXT_DATA_MOVIE_TYPES = ("movie", "tvMovie")
CONTENT_FIELDS = ("title", "year", "genres", "description", "poster_url")
MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 10_000  # a title page's short plot is under 1,000 characters
# Where a comment or a script element starts, and what ends each: the HTML parser's rules, as title pages use them.
OPENING = re.compile(r"<!--|<script(?=[\s/>])", re.IGNORECASE)
CLOSING = {"<!--": re.compile("-->"), "<script": re.compile(r"</script(?=[\s/>])", re.IGNORECASE)}


@dataclass(frozen=True)
class TitlePage:
    kind: str  # schema.org @type ("Movie", "TVSeries", ...) or the title type IMDb names in __NEXT_DATA__
    is_movie: bool
    title: str
    year: int | None
    genres: tuple[str, ...]
    description: str  # the short plot, "" when the page has none
    poster_url: str  # as written in the page (may be relative to it), "" when there is no poster


def parse_title_page(text: str) -> TitlePage | None:
    """The page's metadata, or None when it has neither JSON-LD nor ``__NEXT_DATA__`` to read it from."""
    tree = LexborHTMLParser(_script_elements(text))
    found = [fields for fields in (_from_json_ld(tree), _from_next_data(tree)) if fields]
    if not found:
        return None
    merged = dict(found[0])
    for fallback in found[1:]:
        for name in CONTENT_FIELDS:
            merged[name] = merged[name] or fallback[name]
    return TitlePage(**merged)


def _script_elements(text: str) -> str:
    """The page's ``<script>`` elements alone, which hold all that is read, for the HTML parser.

    The parser's time grows with the square of the markup's nesting depth: 150,000 nested ``<div>`` took it
    minutes, in a thread that Ctrl-C cannot stop. Scripts do not nest, and this scan is linear: each search
    starts where the last one ended, and a comment or script left open ends it (nothing after it can close).
    """
    found, at = [], 0
    while opening := OPENING.search(text, at):
        # From the opening's third character: "<!-->" is a whole (empty) comment.
        closing = CLOSING[opening[0].lower()].search(text, opening.start() + 2)
        if not closing:
            break
        if opening[0] != "<!--":
            found.append(text[opening.start():closing.end()] + ">")
        at = closing.end()
    return "".join(found)


def _from_json_ld(tree: LexborHTMLParser) -> dict | None:
    for node in tree.css('script[type="application/ld+json"]'):
        for item in _objects(_json(node.text())):
            kind = item.get("@type")
            kind = kind[0] if isinstance(kind, list) and kind else kind
            name = _text(item.get("name"), MAX_TITLE_CHARS)
            if isinstance(kind, str) and name:
                genres = item.get("genre") or []
                return {
                    "kind": kind[:100], "is_movie": kind == "Movie", "title": name,
                    "year": _year(item.get("datePublished")),
                    "genres": _genres([genres] if isinstance(genres, str) else genres),
                    "description": _strip_cast_lead(_text(item.get("description"), MAX_DESCRIPTION_CHARS), name,
                                                    _actor_names(item.get("actor"))),
                    "poster_url": _text(_image_url(item.get("image")), MAX_URL_CHARS, unescape=False),
                }
    return None


def _from_next_data(tree: LexborHTMLParser) -> dict | None:
    node = tree.css_first("script#__NEXT_DATA__")
    fold = _dig(_json(node.text()) if node else None, "props", "pageProps", "aboveTheFoldData")
    if not isinstance(fold, dict):
        return None
    # Older builds list genres under "genres" ({"text"}), newer ones under "titleGenres" ({"genre": {"text"}}).
    genres = [_dig(g, "text") for g in _list(_dig(fold, "genres", "genres"))]
    genres += [_dig(g, "genre", "text") for g in _list(_dig(fold, "titleGenres", "genres"))]
    type_id = _text(_dig(fold, "titleType", "id"), 100)
    return {
        "kind": _text(_dig(fold, "titleType", "text"), 100) or type_id or "unknown",
        "is_movie": type_id in NEXT_DATA_MOVIE_TYPES,
        "title": _text(_dig(fold, "titleText", "text"), MAX_TITLE_CHARS, unescape=False),
        "year": _year(_dig(fold, "releaseYear", "year")),
        "genres": _genres(genres, unescape=False),
        "description": _text(_dig(fold, "plot", "plotText", "plainText"), MAX_DESCRIPTION_CHARS, unescape=False),
        "poster_url": _text(_dig(fold, "primaryImage", "url"), MAX_URL_CHARS, unescape=False),
    }


def _text(value: object, limit: int, *, unescape: bool = True) -> str:
    """A string field as the table keeps it: only strings count (not ``{'a': 1}`` spelt out), capped in length."""
    if not isinstance(value, str):
        return ""
    return (html.unescape(value) if unescape else value).strip()[:limit]


def _genres(values: list, *, unescape: bool = True) -> tuple[str, ...]:
    """Genre names: strings of a sane length, each once, at most ``MAX_GENRES`` of them."""
    names = (_text(value, MAX_GENRE_CHARS + 1, unescape=unescape) for value in _list(values))
    return tuple(dict.fromkeys(n for n in names if n and len(n) <= MAX_GENRE_CHARS))[:MAX_GENRES]


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _strip_cast_lead(description: str, name: str, actors: list[str]) -> str:
    """Drop the lead sentence IMDb's 2020 JSON-LD put before the plot: '<name> is a movie starring A, B, and C.'

    It names the cast, not the story. It is only removed when it is exactly that template filled with the
    page's own actor names: names have periods in them ("Samuel L. Jackson") that defeat a plain regex.
    """
    lead = re.match(rf"{re.escape(name)} is an? .*? starring ", description)
    if not lead:
        return description
    cast = description[lead.end():]
    for count in (3, 2, 1):  # the template names the first three actors, or fewer when there are fewer
        names = actors[:count]
        listing = (f"{', '.join(names[:-1])}, and {names[-1]}" if count == 3 else " and ".join(names))
        if len(names) == count and cast.startswith(listing + ". "):
            return cast[len(listing) + 2:].strip()
    return description


def _actor_names(actors: object) -> list[str]:
    actors = [actors] if isinstance(actors, dict) else actors if isinstance(actors, list) else []
    return [html.unescape(a["name"]) for a in actors if isinstance(a, dict) and isinstance(a.get("name"), str)]


def _image_url(image: object) -> str:
    if isinstance(image, list):
        image = image[0] if image else ""
    if isinstance(image, dict):
        image = image.get("url") or image.get("contentUrl") or ""
    return image if isinstance(image, str) else ""


def _objects(data: object) -> list[dict]:
    """JSON-LD may hold one object, a list of them, or an ``@graph`` (a list or one object): every object, in order."""
    items = data if isinstance(data, list) else [data]
    found = []
    for item in items:
        if isinstance(item, dict):
            found.append(item)
            graph = item.get("@graph")
            found.extend(x for x in ([graph] if isinstance(graph, dict) else _list(graph)) if isinstance(x, dict))
    return found


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack ([[[[...)
        return None


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _year(value: object) -> int | None:
    match = re.match(r"\d{4}", str(value)) if isinstance(value, (str, int)) else None
    return int(match[0]) if match else None
