"""``moviegenre imdb basics`` and ``moviegenre scrape``: build a movie table from IMDb on your own machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from moviegenre.acquisition.scraper import DEFAULT_BASE_URL, DEFAULT_USER_AGENT, ScrapeSettings, parse_rate, scrape
from moviegenre.acquisition.state import Outcome
from moviegenre.cli.app import app, console, err_console, non_empty_path

imdb_app = typer.Typer(help="Ingest IMDb's own files.", no_args_is_help=True)
app.add_typer(imdb_app, name="imdb")
MAX_LISTED_PROBLEMS = 10


@imdb_app.command("basics")
def basics(title_basics: Annotated[Path, typer.Argument(parser=non_empty_path,
                                                        help="IMDb's title.basics.tsv or .tsv.gz.")],
           out: Annotated[Path, typer.Option("--out", parser=non_empty_path, help="Movie table (CSV) to write.")],
           years: Annotated[str, typer.Option(help="startYear range, e.g. 2000-2010 or 2005; '' for all.")] = "",
           types: Annotated[str, typer.Option(help="Comma-separated titleType values to keep.")] = "movie",
           min_runtime: Annotated[int | None, typer.Option(help="Drop titles shorter than this (minutes) "
                                                                "or of unknown runtime.")] = None,
           exclude_genres: Annotated[str, typer.Option(help="Comma-separated genres to drop, e.g. Short.")] = "",
           include_adult: Annotated[bool, typer.Option(help="Keep isAdult=1 titles.")] = False) -> None:
    """Filter IMDb's title list (streamed; ~12M rows in bounded memory) into the titles to scrape."""
    from moviegenre.acquisition.imdb_basics import BasicsFilter, parse_types, parse_years, read_basics
    from moviegenre.data.table import check_not_input

    check_not_input([title_basics], [out])
    keep = BasicsFilter(years=parse_years(years), types=parse_types(types), min_runtime=min_runtime,
                        exclude_genres=tuple(g.strip() for g in exclude_genres.split(",") if g.strip()),
                        include_adult=include_adult)
    with Progress(TextColumn("reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task("read", total=None)
        table, report = read_basics(title_basics, keep,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
    table.save(out)
    dropped = ", ".join(f"{name} {count:,}" for name, count in report.dropped.items() if count)
    console.print(f"{report.rows:,} rows read: {report.kept:,} kept, dropped by filter: {dropped or 'none'}, "
                  f"{report.malformed:,} malformed", highlight=False, soft_wrap=True)
    for problem in report.examples[:MAX_LISTED_PROBLEMS]:
        console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    if report.malformed > MAX_LISTED_PROBLEMS:
        console.print(f"  ... and {report.malformed - MAX_LISTED_PROBLEMS:,} more malformed rows", highlight=False)
    console.print(f"wrote {out}", markup=False, highlight=False)


@app.command("scrape")
def scrape_command(
        movies: Annotated[Path, typer.Argument(parser=non_empty_path,
                                               help="Movie table whose imdb_id column lists the titles.")],
        out: Annotated[Path, typer.Option("--out", parser=non_empty_path,
                                          help="Folder for movies.csv, posters/ and state.sqlite.")],
        rate: Annotated[str, typer.Option(help="Requests per second, all together: 2/s, 30/min, ...")] = "2/s",
        concurrency: Annotated[int, typer.Option(help="Titles in flight at once.")] = 4,
        base_url: Annotated[str, typer.Option(help="Site serving /title/<id>/ pages.")] = DEFAULT_BASE_URL,
        timeout: Annotated[float, typer.Option(help="Seconds for one whole answer.")] = 30.0,
        max_tries: Annotated[int, typer.Option(help="Tries per request on timeouts, 429 and 5xx.")] = 4,
        backoff: Annotated[float, typer.Option(help="First retry wait in seconds (doubles each try).")] = 2.0,
        max_backoff: Annotated[float, typer.Option(help="Longest wait between two tries, in seconds (unless the "
                                                        "site's Retry-After asks for more).")] = ScrapeSettings.max_backoff,
        max_bytes: Annotated[int, typer.Option(help="Largest page or poster to fetch, in bytes; a larger one fails "
                                                    "its title.")] = ScrapeSettings.max_bytes,
        max_retry_after: Annotated[float, typer.Option(help="Longest Retry-After to honour, in seconds; a longer "
                                                            "one pauses this long and fails the title.")] = 300.0,
        user_agent: Annotated[str, typer.Option(help="User-Agent header; say who you are.")] = DEFAULT_USER_AGENT,
        retry_failed: Annotated[bool, typer.Option(help="Also retry titles that failed before, and the posters of "
                                                        "titles done without theirs.")] = False) -> None:
    """Fetch each title's page for its poster, short description and genres. Stop it any time; rerun to resume."""
    settings = ScrapeSettings(base_url=base_url, rate=parse_rate(rate), concurrency=concurrency, timeout=timeout,
                              max_tries=max_tries, backoff=backoff, max_backoff=max_backoff,
                              max_retry_after=max_retry_after, max_bytes=max_bytes,
                              user_agent=user_agent, retry_failed=retry_failed)
    with Progress(TextColumn("scraping"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[last]}"), console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task("scrape", total=None, last="")

        def advance(imdb_id: str, outcome: Outcome) -> None:
            bar.update(task, advance=1, last=f"{imdb_id} {outcome.status} {outcome.reason}".strip())

        summary = scrape(movies, out, settings, progress=advance, on_start=lambda n: bar.update(task, total=n))
    console.print(f"done {summary.done:,} ({summary.with_poster:,} with a poster), "
                  f"failed {sum(summary.failed.values()):,}, skipped {sum(summary.skipped.values()):,}, "
                  f"pending {summary.pending:,}", highlight=False, soft_wrap=True)
    for title, counts in (("done", summary.no_poster), ("failed", summary.failed), ("skipped", summary.skipped)):
        for reason, count in counts.most_common():
            console.print(f"  {title}: {reason}: {count:,}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {out / 'movies.csv'}", markup=False, highlight=False)
    if summary.failed and not summary.done:  # an unreachable site, a robots.txt that refuses: a pipeline must see it
        raise typer.Exit(1)
