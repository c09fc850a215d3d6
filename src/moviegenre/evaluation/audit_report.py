"""The audit's ``report.md``: the genres audited and those left out, counts, the top suspects, and plots (issues per
genre, scores, a contact sheet)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from moviegenre.data.genres import GenreEncoder, counted
from moviegenre.data.images import load_image
from moviegenre.data.table import MovieTable, atomic_write_text
from moviegenre.errors import ImageError
from moviegenre.evaluation.audit import PLOTS, UNREAD
from moviegenre.evaluation.report import save_figure
from moviegenre.markdown import markdown_image, markdown_text

PER_GENRE, SCORES, SUSPECTS = PLOTS
TOP = 20
SHEET = 12  # posters on the contact sheet
TILE = (150, 222)


HEADER = ("#", "imdb_id", "title", "genre", "kind", "score", "probability", "model probability", "model confirms",
          "labels", "suggested")
# Each column of issues.csv, in plain words (the report's own text: markdown as it is).
ISSUE_MEANINGS = {
    "`imdb_id`, `title`": "the movie.",
    "`genre`": "the genre label in question.",
    "`kind`": ("`missing` (the movie is not labelled with the genre but probably has it) or `extra` (it is labelled "
               "with the genre but probably should not be)."),
    "`score`": ("how suspicious the label is, from 0 to 1 (1 minus cleanlab's label quality); above 0.5 the label is "
                "more likely wrong than right. The rows are sorted by it."),
    "`probability`": ("how likely the movie has the genre, weighing the model's probabilities together with the "
                      "movie's other labels (a genre that is one too many, or an odd one out among them, gets a "
                      "lower one); `score` is computed from it. It can be low for a genre the poster and "
                      "description support."),
    "`model_probability`": ("how likely the movie has the genre according to the model alone, from its poster "
                            "and/or description and never its labels (a model that never saw the movie)."),
    "`model_confirms`": ("`True` when the model alone raises the same issue at its fold's thresholds (the genre is "
                         "in the movie's `suggested_genres` for a `missing` issue, not in them for an `extra` one); "
                         "`False` when the model alone supports the label as given, so that only the movie's other "
                         "labels make it suspect."),
    "`labels`": "the movie's genres as labelled, `|`-separated (those not audited too).",
    "`inputs`": "what the model read of the movie: `poster`, `description` or `both`.",
}
MOVIE_MEANINGS = ("`label_quality`, from 0 to 1, low when the movie's labels are probably wrong; `suggested_genres`, "
                  "the genres the model alone gives the movie (those whose probability reaches its threshold in the "
                  "movie's fold, or the most probable one where none does); both concern the audited genres only. "
                  f"`not_audited`, empty for a movie audited, else why it was not (`{UNREAD}`: it has no poster or "
                  "description the model takes), and then the two others are empty.")


def write_audit_report(out: Path, movies: MovieTable, issues: pd.DataFrame, per_movie: pd.DataFrame, *,
                       model: str, folds: int, unread: int, encoder: GenreEncoder, quality: str = "",
                       warning: str | None = None) -> Path:
    """``encoder``: the audit's, fitted on ``movies``: the report names the genres it audited and those it left out.
    ``quality``: how well the model did out of fold, and ``warning`` where that is too little to judge labels by,
    said beside the count of issues."""
    plots = [_issues_per_genre(out, issues), _score_distribution(out, issues), _contact_sheet(out, movies, issues)]
    row_of = {movie_id: row for row, movie_id in enumerate(movies.ids)}
    suggested = dict(zip(per_movie["imdb_id"], per_movie["suggested_genres"]))
    kinds = issues["kind"].value_counts()
    lines = [f"# Label audit of {markdown_text(movies.source)}", "",
             (f"{len(movies) - unread:,} movies scored out of fold by `{model}` ({folds} folds); "
              f"{unread:,} without an input the model reads were not audited (`not_audited` in `movies.csv`)."), "",
             _genres(encoder), "",
             (f"{len(issues):,} suspected label problems: {kinds.get('missing', 0):,} missing genres, "
              f"{kinds.get('extra', 0):,} extra genres (`issues.csv`, most suspicious first; one row per movie "
              "in `movies.csv`)."), *(["", f"{markdown_text(quality[0].upper() + quality[1:])}."] if quality else []),
             *(["", f"**Warning:** {markdown_text(warning)}."] if warning else []), "",
             _agreement(issues), "", *_columns(), "", f"## Top {TOP} suspects", "",
             "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
    for rank, issue in enumerate(issues.head(TOP).itertuples(index=False), start=1):
        labels = "|".join(movies.frame["genres"].iloc[row_of[issue.imdb_id]])
        lines.append(f"| {rank} | {markdown_text(issue.imdb_id)} | {markdown_text(issue.title) or '-'} | "
                     f"{markdown_text(issue.genre)} | {issue.kind} | {issue.score:.3f} | {issue.probability:.3f} | "
                     f"{issue.model_probability:.3f} | {'yes' if issue.model_confirms else 'no'} | "
                     f"{markdown_text(labels)} | {markdown_text(suggested[issue.imdb_id])} |")
    lines += [""] + [markdown_image(p) for p in plots]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return out / "report.md"


def _genres(encoder: GenreEncoder) -> str:
    """Which genres were audited, which were not and why: no issue in a genre left out does not mean clean labels."""
    text = (f"Genres audited ({len(encoder.classes_):,}): "
            + counted(dict(zip(encoder.classes_, encoder.counts_.tolist())), markdown_text) + ".")
    left_out = []
    if rare := encoder.rare_:
        left_out.append(f"{len(rare):,} with fewer than {encoder.min_count:,} movies (`--min-genre-count`): "
                        f"{counted(rare, markdown_text)}")
    if dropped := encoder.dropped_:
        left_out.append(f"{len(dropped):,} left out by name (`--drop-genres`): {counted(dropped, markdown_text)}")
    if not left_out:
        return text + " Every genre of the table was audited."
    return (f"{text} Genres not audited: {'; '.join(left_out)}. The audit raises no issue in a genre it does not "
            "audit: their labels were not checked, not found clean.")


def _agreement(issues: pd.DataFrame) -> str:
    """How many issues the poster/description model alone raises too, and how many it contradicts, per kind."""
    confirmed = issues["model_confirms"].astype(bool)
    per_kind = "; ".join(f"{kind}: {int(confirmed[issues['kind'] == kind].sum()):,} of "
                         f"{int((issues['kind'] == kind).sum()):,}" for kind in ("missing", "extra"))
    return (f"The model alone (its own probability at its fold's threshold, as in `suggested_genres`) confirms "
            f"{int(confirmed.sum()):,} of these issues ({per_kind}) and disagrees with {int((~confirmed).sum()):,}: "
            "those are flagged because of the movie's other labels, against what the model reads in its poster and/or "
            "description (`model_confirms` is `False`).")


def _columns() -> list[str]:
    """What each column of ``issues.csv`` and ``movies.csv`` means, in plain words: a paragraph each (the report
    holds headings, paragraphs and tables only)."""
    lines = ["## What the columns mean", "", "In `issues.csv`, one row per suspected label problem:"]
    for names, meaning in ISSUE_MEANINGS.items():
        lines += ["", f"{names}: {meaning}"]
    return [*lines, "", f"In `movies.csv`: {MOVIE_MEANINGS}"]


def _issues_per_genre(out: Path, issues: pd.DataFrame) -> Path:
    counts = issues.groupby(["genre", "kind"]).size().unstack(fill_value=0).reindex(columns=["missing", "extra"],
                                                                                    fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values().index]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(counts) + 1.2))
    ax.barh(counts.index, counts["missing"], color="#4c72b0", label="missing")
    ax.barh(counts.index, counts["extra"], left=counts["missing"], color="#dd8452", label="extra")
    ax.set_xlabel("suspected label problems")
    ax.set_title("issues per genre")
    ax.legend(fontsize=8)
    return save_figure(fig, out / PER_GENRE)


def _score_distribution(out: Path, issues: pd.DataFrame) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for kind, color in (("missing", "#4c72b0"), ("extra", "#dd8452")):
        ax.hist(issues.loc[issues["kind"] == kind, "score"], bins=np.linspace(0, 1, 41), alpha=0.6, color=color,
                label=kind)
    ax.set_xlabel("score (1 - cleanlab label quality; higher: more suspicious)")
    ax.set_ylabel("issues")
    if len(issues):  # a clean catalogue's empty histogram cannot be log-scaled: matplotlib would warn on stderr
        ax.set_yscale("log")
    ax.set_title("score distribution")
    ax.legend(fontsize=8)
    return save_figure(fig, out / SCORES)


def _contact_sheet(out: Path, movies: MovieTable, issues: pd.DataFrame) -> Path:
    """The most suspicious movies' posters (or their description where they have none), with the issue."""
    top = issues.drop_duplicates("imdb_id").head(SHEET)
    row_of = {movie_id: row for row, movie_id in enumerate(movies.ids)}
    cols = 6
    rows = max(1, int(np.ceil(len(top) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.9, rows * 3.3))
    for ax, issue in zip(np.ravel(axes), top.itertuples(index=False)):
        movie = movies.frame.iloc[row_of[issue.imdb_id]]
        ax.imshow(_tile(movie["poster"]))
        if not movie["poster"]:
            ax.text(TILE[0] / 2, TILE[1] / 2, textwrap.fill(movie["description"][:160], 24), ha="center",
                    va="center", fontsize=5)
        sign = "+" if issue.kind == "missing" else "-"
        ax.set_title(f"{textwrap.shorten(issue.title or issue.imdb_id, 22)}\n{sign}{issue.genre} "
                     f"({issue.score:.2f})", fontsize=7)
    for ax in np.ravel(axes):
        ax.axis("off")
    fig.suptitle("top suspects: +genre probably missing, -genre probably extra (score)", fontsize=9)
    return save_figure(fig, out / SUSPECTS)


def _tile(poster: str) -> np.ndarray:
    if poster:
        try:
            return np.asarray(load_image(poster, size=TILE, policy="pad"))
        except ImageError:
            pass
    return np.full((TILE[1], TILE[0], 3), 235, dtype=np.uint8)
