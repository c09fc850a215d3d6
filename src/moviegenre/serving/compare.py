"""Compare poster (and blurb) variants of one movie: which says the intended genres, and what in it does.

    >>> from moviegenre.serving.compare import compare, write_report
    >>> result = compare(Predictor(), ["a.jpg", "b.jpg"], intended=["Horror"])
    >>> result["ranking"], result["scores"]                       # best variant first; one score per variant
    >>> write_report(result, "review/", Predictor())            # compare.md + contact-sheet.png

Every variant's probabilities are ``Predictor.predict``'s for the same poster and description (the variants
are embedded in one batch: the fast path for hundreds of posters). The ranking score is
:func:`score`: how far above their thresholds the intended genres are on average, minus how far the strongest
other genre is (see ``SCORE``).
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from moviegenre.data.genres import resolve_genres
from moviegenre.data.images import load_image, read_image_file
from moviegenre.data.table import atomic_write_bytes, atomic_write_text
from moviegenre.errors import DataError, MovieGenreError, utf8_text
from moviegenre.markdown import markdown_code, markdown_image, markdown_text
from moviegenre.serving.predictor import Predictor, displayed

SCORE = ("score = mean over the intended genres of (probability - threshold), minus the largest "
         "(probability - threshold) among the other genres; higher is better: above 0, the intended genres "
         "clear their thresholds, on average, by more than any other genre clears its own")
SHEET_MAX = 24  # variants on the contact sheet (each heat map costs ~64 occluded posters); compare.md lists all
CONTACT_SHEET = "contact-sheet.png"
REPORT = ("compare.md", CONTACT_SHEET)  # what write_report writes in its folder


def listed(values: Sequence | None, name: str) -> list:
    """``values`` (posters, descriptions, genres) as a list; one string is refused: read as a list it would be one
    poster, blurb or genre per character ("unknown genre 'H'"), and a path alone is no list either."""
    if isinstance(values, (str, bytes, bytearray, os.PathLike)):
        example = repr(str(values)[:40]) if isinstance(values, (str, os.PathLike)) else "..."
        raise DataError(name, f"a single {'string' if isinstance(values, str) else type(values).__name__}",
                        hint=f"give a list of {name}, e.g. [{example}]")
    return [] if values is None else list(values)


def variant_texts(descriptions: Sequence[str] | None) -> list[str | None]:
    """The blurbs to pair with every poster ([None]: the posters alone); one-line error for one that is not UTF-8.

    Checked here, not per variant: a bad blurb would otherwise be listed as every poster's error.
    """
    return [utf8_text(text, "description") or None for text in listed(descriptions, "descriptions")] or [None]


def score(probabilities: dict[str, float], thresholds: dict[str, float], intended: Sequence[str]
          ) -> tuple[float, str | None]:
    """``SCORE`` of one variant, and the strongest genre that is not intended (None if all are)."""
    margins = {genre: probabilities[genre] - thresholds[genre] for genre in probabilities}
    mean = sum(margins[genre] for genre in intended) / len(intended)
    others = [genre for genre in margins if genre not in intended]
    if not others:
        return round(mean, 4), None
    strongest = max(others, key=margins.__getitem__)
    return round(mean - margins[strongest], 4), strongest


def comparison(scored: Sequence[tuple[str, str | None, dict, int]], intended: Sequence[str], errors: list[dict]
               ) -> dict:
    """The comparison's JSON from (poster, description, ``Predictor.predict`` result, poster index) per variant:
    ``ranking`` (variant indices, best first; the input order without intended genres) and ``scores`` (per
    variant; None without intended genres); each variant names its ``strongest_unintended`` genre and its
    ``poster_index``, the position of its poster among the posters given (names may repeat). ``errors`` are passed
    through: each a dict with ``poster``, ``poster_index`` and ``error``."""
    first = scored[0][2]
    variants = [{"poster": poster, "poster_index": index, "description": text, "genres": result["genres"],
                 "probabilities": result["probabilities"]} for poster, text, result, index in scored]
    scores = None
    if intended:
        scores = []
        for variant in variants:
            value, variant["strongest_unintended"] = score(variant["probabilities"], first["thresholds"], intended)
            scores.append(value)
    ranking = sorted(range(len(variants)), key=lambda i: -scores[i]) if scores else list(range(len(variants)))
    return {"variants": variants, "intended": list(intended), "ranking": ranking, "scores": scores,
            "thresholds": first["thresholds"], "model": first["model"], "score": SCORE if intended else None,
            "errors": errors}


def compare(predictor: Predictor, posters: Sequence[str | Path], descriptions: Sequence[str] | None = None,
            intended: Sequence[str] | None = None, *, title: str | None = None, progress: bool = False) -> dict:
    """Score every poster x description variant and rank them for the ``intended`` genres; the optional
    ``title`` is read with every variant, as ``Predictor.predict(..., title=)`` reads it.

    Each variant and error names its ``poster_index``: the position of its poster in ``posters``. A poster that
    cannot be read or decoded is listed in ``errors`` (``{"poster", "poster_index", "error"}``) and the others
    are still compared; when none is usable, the first error is raised.
    """
    intended = resolve_genres(listed(intended, "genres"), predictor.genres)
    texts, posters = variant_texts(descriptions), listed(posters, "posters")
    title = utf8_text(title, "title")  # checked once: a bad title is not every poster's error
    if not posters:
        raise DataError("compare", "no poster given", hint="give one or more poster files")
    pairs = [(index, Path(poster), text) for index, poster in enumerate(posters) for text in texts]
    results = predictor.predict_many([(poster, text, title) for _, poster, text in pairs], progress=progress,
                                     return_exceptions=True)
    scored, errors = [], {}
    for (index, poster, text), result in zip(pairs, results):
        if isinstance(result, MovieGenreError):
            errors.setdefault(index, (str(poster), result))
        else:
            scored.append((str(poster), text, result, index))
    if not scored:
        raise next(iter(errors.values()))[1]
    return comparison(scored, intended, [{"poster": poster, "poster_index": index, "error": str(error)}
                                         for index, (poster, error) in errors.items()])


# -- the review report --------------------------------------------------------------------------------------
def write_report(result: dict, out: str | Path, predictor: Predictor, sheet_max: int = SHEET_MAX) -> list[Path]:
    """``compare.md`` (every variant, in rank order) and ``contact-sheet.png`` (the first ``sheet_max``: each
    poster with the intended genres' heat maps over it and its top genres) in ``out``."""
    out = Path(out)  # made by the atomic writes, which name a path that cannot be a folder in one line
    order = result["ranking"][:sheet_max]
    explainer = None
    if result["intended"]:
        from moviegenre.serving.explain import Explainer

        explainer = Explainer(predictor)
    tiles = [_tile(result, index, place + 1, explainer) for place, index in enumerate(order)]
    sheet = io.BytesIO()
    header = (f"Ranked for {', '.join(result['intended'])}: mean (probability - threshold) of the intended genres "
              "minus the strongest other genre's. Heat: poster regions that raise the genre."
              if result["intended"] else f"{len(result['variants'])} variants, in the order given.")
    _sheet(tiles, header).save(sheet, format="PNG", optimize=True)
    # An earlier report's compare.md goes first: a report interrupted between its two files then leaves no ranking
    # beside a sheet it does not describe.
    if out.is_dir():  # elsewhere (under a file) the writer below says in one line why nothing can be written
        (out / "compare.md").unlink(missing_ok=True)
    atomic_write_bytes(out / CONTACT_SHEET, sheet.getvalue())
    atomic_write_text(out / "compare.md", _markdown(result, len(order)))
    return [out / name for name in REPORT]


def _top(variant: dict, n: int = 3) -> str:
    return ", ".join(f"{genre} {p:.2f}" for genre, p in list(variant["probabilities"].items())[:n])


def _markdown(result: dict, on_sheet: int) -> str:
    intended, thresholds = result["intended"], result["thresholds"]
    lines = ["# Poster variants compared", "",
             f"Model {markdown_text(result['model'])}; {len(result['variants'])} variants"
             + (f"; intended genres: **{markdown_text(', '.join(intended))}**." if intended
                else "; no intended genre given."), ""]
    if intended:
        lines += [f"Ranking {result['score']}.", ""]
    lines += [markdown_image(Path(CONTACT_SHEET)) + (f" (the first {on_sheet})" if on_sheet < len(result["variants"])
                                                     else ""), ""]
    head = ["rank", "poster", "description"]
    if intended:
        head += ["score", *(f"{markdown_text(genre)} (threshold {thresholds[genre]:.3f})" for genre in intended),
                 "strongest other genre"]
    head += ["predicted genres", "top probabilities"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for place, index in enumerate(result["ranking"], 1):
        variant = result["variants"][index]
        cells = [str(place), markdown_code(variant["poster"]), markdown_text(variant["description"] or "", 80)]
        if intended:
            other = variant["strongest_unintended"]
            cells += [f"{result['scores'][index]:+.3f}",
                      *(f"{displayed(variant['probabilities'][g], thresholds[g], 3):.3f}" for g in intended),
                      f"{markdown_text(other)} {variant['probabilities'][other]:.3f}" if other else "-"]
        cells += [markdown_text(", ".join(variant["genres"])) or "(none above threshold)",
                  markdown_text(_top(variant))]
        lines.append("| " + " | ".join(cells) + " |")
    if result["errors"]:
        # A table, not a list: a code span's escaped pipe (\\|) is read as | in a table cell only.
        lines += ["", "## Not compared", "", "| poster | error |", "|---|---|"]
        lines += [f"| {markdown_code(error['poster'])} | {markdown_text(error['error'], 80)} |"
                  for error in result["errors"]]
    return "\n".join(lines) + "\n"


IMAGE_WIDTH, IMAGE_HEIGHT, TEXT_WIDTH, PAD, LINE = 168, 250, 200, 10, 17


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _tile(result: dict, index: int, place: int, explainer) -> Image.Image:
    """One variant: the poster (with each intended genre's heat map over it), then its rank, score and genres."""
    variant, intended = result["variants"][index], result["intended"]
    shown = intended[:2] or [None]
    if explainer is None:
        posters = [load_image(Path(variant["poster"]), name=variant["poster"])]
    else:
        explanation = explainer.explain(read_image_file(variant["poster"]), variant["description"], genres=shown)
        posters = [explanation.overlay(genre, width=IMAGE_WIDTH).convert("RGB") for genre in shown]
    lines = []
    if intended:
        lines += [f"{g} {displayed(variant['probabilities'][g], result['thresholds'][g], 2):.2f} "
                  f"(threshold {result['thresholds'][g]:.2f})" for g in intended]
        other = variant["strongest_unintended"]
        if other:
            lines.append(f"strongest other: {other} {variant['probabilities'][other]:.2f}")
    lines += ["top genres:", *(f"  {genre} {p:.2f}" for genre, p in list(variant["probabilities"].items())[:3]),
              textwrap.shorten(Path(variant["poster"]).name, 30, placeholder="…")]
    if variant["description"]:
        lines += textwrap.wrap(textwrap.shorten(f"“{variant['description']}”", 90, placeholder="…”"), 30)
    images_width = len(posters) * (IMAGE_WIDTH + PAD)
    tile = Image.new("RGB", (PAD + images_width + TEXT_WIDTH, max(IMAGE_HEIGHT, 40 + LINE * len(lines)) + 2 * PAD),
                     "white")
    draw = ImageDraw.Draw(tile)
    for i, (poster, genre) in enumerate(zip(posters, shown)):
        poster.thumbnail((IMAGE_WIDTH, IMAGE_HEIGHT - (LINE if genre else 0)))
        tile.paste(poster, (PAD + i * (IMAGE_WIDTH + PAD), PAD))
        if genre:
            draw.text((PAD + i * (IMAGE_WIDTH + PAD), PAD + poster.height + 2), f"heat: {genre}", fill="#d9480f",
                      font=_font(13))
    left = PAD + images_width
    score = f"   {result['scores'][index]:+.3f}" if result["scores"] else ""
    draw.text((left, PAD), f"#{place}{score}", fill="#1d1d24", font=_font(20))
    for row, line in enumerate(lines):
        draw.text((left, PAD + 34 + LINE * row), line, fill="#1d1d24", font=_font(13))
    return tile


def _sheet(tiles: list[Image.Image], header: str, columns: int = 3) -> Image.Image:
    """The tiles in rank order, ``columns`` to a row, under a one-line header."""
    columns = min(columns, len(tiles))
    width, height = max(t.width for t in tiles), max(t.height for t in tiles)
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (width + PAD) + PAD, 30 + rows * (height + PAD) + PAD), "#dedee6")
    ImageDraw.Draw(sheet).text((PAD, 8), header, fill="#1d1d24", font=_font(14))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (PAD + (i % columns) * (width + PAD), 30 + (i // columns) * (height + PAD)))
    return sheet
