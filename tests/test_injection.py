"""Anyone's text stays text: the three markdown reports (compare.md, the audit's and the evaluation's report.md)
escape titles, ids, genre names, file names and descriptions, and the web service sends security headers under
which its page still works."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from conftest import draw_poster
from moviegenre.data.genres import GenreEncoder
from moviegenre.data.table import MovieTable
from moviegenre.evaluation.audit import ISSUE_COLUMNS
from moviegenre.evaluation.audit_report import write_audit_report
from moviegenre.evaluation.metrics import multilabel_metrics
from moviegenre.evaluation.report import write_report
from moviegenre.markdown import markdown_code, markdown_text
from moviegenre.serving.app import STATIC
from moviegenre.serving.compare import _markdown, comparison
from moviegenre.serving.compare import write_report as write_compare_report
from moviegenre.serving.transport import DOCS_PAGES, PAGE_POLICY
from test_browser import TIMEOUT_MS, browser, server  # noqa: F401  (fixtures)
from test_serving import DESCRIPTION, client, one_torch_thread, tiny_run  # noqa: F401  (fixtures)

# GFM as GitHub, GitLab and most editors render it (tables, strikethrough); raw HTML is on, as CommonMark has it.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
IMG = "<img src=x onerror=alert(1)>"
HOSTILE = ["a | b", "line1\n# Injected heading\n", f"x`{IMG}`", '<img src="https://tracker.example/pixel.gif">',
           "<script>alert(1)</script>", "[click](javascript:alert(1))", "![pixel](https://tracker.example/p.gif)",
           "**bold** _it_ ~~gone~~ __init__", "back\\slash \\| pipe \\", "<https://auto.example>", "tt144|injected|cell",
           "`` code ``", "[ref]: https://tracker.example", "&amp; &#187; &lt;b&gt;"]
ORDINARY = ["Sci-Fi", "Ocean's Eleven", "Film-Noir", "my_poster_v2.jpg", "Amélie (2001)", "Mission: Impossible",
            "#Alive", "Tom & Jerry"]


class Rendered(HTMLParser):
    """A rendered report: its tags (name, attributes), headings' texts and tables' rows of cell texts."""

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.tags, self.headings, self.rows, self._text = [], [], [], None
        self.feed(MARKDOWN.render(markdown))

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th", "h1", "h2"):
            self._text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.rows[-1].append(self._text.strip())
        if tag in ("h1", "h2"):
            self.headings.append(self._text.strip())

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text += data

    def markup(self) -> set[str]:
        """The tags that are not the report's own structure (a table, headings, paragraphs, code, emphasis)."""
        return {tag for tag, _ in self.tags} - {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "code",
                                                 "strong", "img"}

    def images(self) -> list[str]:
        return [attrs["src"] for tag, attrs in self.tags if tag == "img"]


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- the shared helpers ---------------------------------------------------------------------------------------
def test_ordinary_text_is_written_as_it_is():
    assert [markdown_text(text) for text in ORDINARY] == ORDINARY


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_as_itself_in_a_heading_and_a_cell(text: str):
    escaped = markdown_text(text)
    rendered = Rendered(f"# {escaped}\n\n| one | two |\n|---|---|\n| {escaped} | after |\n")
    assert rendered.headings == [one_line(text)]
    assert rendered.rows == [["one", "two"], [one_line(text), "after"]]
    assert rendered.markup() == set() and rendered.images() == []


@pytest.mark.parametrize("name", ["a | b.jpg", "line1\n# Injected heading\n.jpg", f"x`{IMG}`.jpg", "``double``.png",
                                  "`leading.png", "back\\slash|.png", "plain_name.png"])
def test_a_file_name_is_one_exact_code_span_in_its_cell(name: str):
    rendered = Rendered(f"| file | next |\n|---|---|\n| {markdown_code(name)} | after |\n")
    assert rendered.rows == [["file", "next"], [name.replace("\n", " "), "after"]]
    assert rendered.markup() == set() and rendered.images() == []
    assert [tag for tag, _ in rendered.tags].count("code") == 1


# -- the three reports --------------------------------------------------------------------------------------
def variant(poster: Path | str, description: str | None, probabilities: dict[str, float], index: int = 0) -> tuple:
    genres = [genre for genre, p in probabilities.items() if p >= 0.5]
    return str(poster), description, {"genres": genres, "probabilities": probabilities, "model": "m<b>`x`</b>",
                                      "thresholds": dict.fromkeys(probabilities, 0.5)}, index


HOSTILE_GENRES = {IMG: 0.9, "Film-Noir": 0.6, "Sci-Fi | [x](javascript:alert(1))": 0.2}
HOSTILE_DESCRIPTION = ('<img src="https://tracker.example/pixel.gif"> <script>alert(1)</script> '
                       "[click](javascript:alert(1))")


def test_compare_md_keeps_hostile_file_names_descriptions_and_genres_in_their_cells(tmp_path: Path):
    names = ["a | b.jpg", "line1\n# Injected heading\n.jpg", f"x`{IMG}`.jpg"]
    posters = [draw_poster(tmp_path / name, seed=i) for i, name in enumerate(names)]
    result = comparison([variant(p, HOSTILE_DESCRIPTION, HOSTILE_GENRES, i) for i, p in enumerate(posters)], [],
                        [{"poster": "bad | `x`.png", "poster_index": 3, "error": f"bad | `x`.png: {IMG} not an image"}])
    out = tmp_path / "review"
    write_compare_report(result, out, predictor=None)
    rendered = Rendered((out / "compare.md").read_text())
    assert rendered.markup() == set() and rendered.images() == ["contact-sheet.png"]
    assert (out / "contact-sheet.png").exists()
    variants = rendered.rows[1:4]
    assert [row[1] for row in variants] == [str(p).replace("\n", " ") for p in posters]
    assert all(len(row) == len(rendered.rows[0]) for row in variants)
    assert all(row[2].startswith('<img src="https://tracker.example') for row in variants)
    assert variants[0][3] == f"{IMG}, Film-Noir"
    assert rendered.rows[-2:] == [["poster", "error"], ["bad | `x`.png", f"bad | `x`.png: {IMG} not an image"]]


def test_compare_md_escapes_intended_genres_in_its_header():
    result = comparison([variant("p.png", None, HOSTILE_GENRES)], [IMG, "Film-Noir"], [])
    rendered = Rendered(_markdown(result, 1))
    assert rendered.markup() == set() and rendered.images() == ["contact-sheet.png"]
    assert rendered.rows[0][4:6] == [f"{IMG} (threshold 0.500)", "Film-Noir (threshold 0.500)"]
    assert rendered.rows[1][6] == "Sci-Fi | [x](javascript:alert(1)) 0.200"


def test_audit_report_escapes_the_source_ids_titles_and_genres(tmp_path: Path):
    title = f"{IMG} [x](javascript:alert(1))\n# Injected"
    movies = MovieTable.from_records([{"imdb_id": "tt144|injected|cell", "title": title, "genres": ["Drama", IMG],
                                       "description": "words"}], source="a | <b>.csv")
    issues = pd.DataFrame([["tt144|injected|cell", title, IMG, "extra", 0.9, 0.1, 0.6, False, f"Drama|{IMG}",
                            "description"]],
                          columns=list(ISSUE_COLUMNS))
    per_movie = pd.DataFrame({"imdb_id": movies.ids, "label_quality": 0.5, "suggested_genres": "Comedy|_x_"})
    encoder = GenreEncoder(min_count=1).fit(movies.genres)  # the hostile genre is audited: named in the report
    rendered = Rendered(write_audit_report(tmp_path, movies, issues, per_movie, model="m", folds=2, unread=0,
                                           encoder=encoder).read_text())
    assert rendered.markup() == set()
    assert rendered.headings[0] == "Label audit of a | <b>.csv"
    assert rendered.rows[1] == ["1", "tt144|injected|cell", one_line(title), IMG, "extra", "0.900", "0.100", "0.600",
                                "no", f"Drama|{IMG}", "Comedy|_x_"]
    assert rendered.images() == ["issues_per_genre.png", "score_distribution.png", "top_suspects.png"]
    assert all((tmp_path / image).exists() for image in rendered.images())


def test_evaluation_report_escapes_genre_names_and_its_title(tmp_path: Path):
    genres = [IMG, "Film-Noir"]
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 1]])
    probabilities = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.6], [0.4, 0.3]])
    metrics = multilabel_metrics(labels, probabilities, np.array([0.5, 0.5]), genres)
    out = write_report(tmp_path / "report", metrics, labels, probabilities, genres,
                       title="fusion-gmu on my_movies | <b>.csv (--use any)")
    markdown = (out / "report.md").read_text()
    rendered = Rendered(markdown)
    assert rendered.markup() == set()
    assert rendered.headings == ["fusion-gmu on my_movies | <b>.csv (--use any)"]
    assert [row[0] for row in rendered.rows[-2:]] == genres and "| Film-Noir |" in markdown
    assert rendered.images() == ["per_genre_f1.png", "confusion_matrices.png", "pr_curves.png"]
    assert all((out / image).exists() for image in rendered.images())


# -- the web service's headers ------------------------------------------------------------------------------
SAFE = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 200), ("GET", "/static/app.js", 200), ("GET", "/static/style.css", 200), ("GET", "/health", 200),
    ("GET", "/missing", 404), ("POST", "/predict", 415), ("GET", "/docs", 200)])
def test_every_answer_carries_the_security_headers(client, method: str, path: str, status: int):  # noqa: F811
    response = client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    assert {name: response.headers.get(name) for name in SAFE} == SAFE
    assert response.headers.get("content-security-policy") == (None if path in DOCS_PAGES else PAGE_POLICY)


def test_the_body_limits_own_answer_carries_them_too(client):  # noqa: F811
    response = client.post("/predict", content=b"x", headers={"content-length": str(10**10),
                                                               "content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == PAGE_POLICY


def test_an_error_no_handler_takes_is_a_500_with_the_headers_too(client, monkeypatch):  # noqa: F811
    def broken(*_, **__):
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.app.state.service, "info", broken)
    response = TestClient(client.app, raise_server_exceptions=False).get("/model")  # no second start-up
    assert response.status_code == 500 and "a bug" not in response.text
    assert response.json() == {"detail": "internal error (the service's log has the details)"}
    assert {name: response.headers.get(name) for name in SAFE} == SAFE
    assert response.headers["content-security-policy"] == PAGE_POLICY


def test_the_page_has_no_inline_script_or_style_the_policy_would_block():
    page = (STATIC / "index.html").read_text()
    assert "'unsafe-inline'" not in PAGE_POLICY and "<style" not in page and " style=" not in page
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))
    assert not re.search(r"\bon[a-z]+=", page)  # inline event handlers are inline scripts


def test_the_page_works_under_its_policy(browser, server: str, tmp_path: Path):  # noqa: F811
    """A poster (blob: preview), a description, the bars (sized through element.style) and a heat map (data:
    URL): nothing is refused. Waits are locators or functions: Playwright evaluates a string with eval."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto(server + "/")
    page.wait_for_function("() => document.getElementById('model-info').textContent.startsWith('model ')")
    page.set_input_files("#poster-input", str(draw_poster(tmp_path / "poster.png", seed=2, size=(120, 180))))
    page.fill("#description", DESCRIPTION)
    page.click("#predict")
    page.wait_for_selector("#heat:not([hidden])")
    assert page.locator("#poster-preview").evaluate("(img) => img.naturalWidth") == 120
    assert page.locator("#heat").evaluate("(img) => img.naturalWidth") > 0
    assert page.locator(".bar .fill").first.evaluate("(fill) => fill.getBoundingClientRect().width") > 0
    assert page.locator("body").evaluate("(body) => getComputedStyle(body).margin") == "0px"  # style.css applied
    assert refused == []
    context.close()
