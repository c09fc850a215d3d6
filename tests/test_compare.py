"""Comparing poster variants: the CLI and the API agree with predict, the ranking follows the stated score,
bad files are reported one by one, and the review report is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import draw_poster, run_moviegenre
from moviegenre.errors import DataError, ImageError
from moviegenre.serving.app import create_app
from moviegenre.serving.compare import compare, comparison, score, write_report
from moviegenre.serving.predictor import Predictor
from moviegenre.serving.schemas import MAX_COMPARE_POSTERS
from test_serving import DESCRIPTION, build_tiny_run, one_torch_thread  # noqa: F401  (autouse)

OTHER_DESCRIPTION = "Funny friends laugh at a silly joke."


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_run(tmp_path_factory.getbasetemp() / "tiny-serving-run")  # the serving tests' run


@pytest.fixture(scope="module")
def client(tiny_run: Path):
    with TestClient(create_app(tiny_run, workers=2)) as test_client:
        yield test_client


@pytest.fixture
def poster_bytes(tmp_path: Path) -> bytes:
    return draw_poster(tmp_path / "p.png", seed=3, size=(120, 180)).read_bytes()


@pytest.fixture
def posters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setenv("MOVIEGENRE_CACHE", str(tmp_path / "cache"))  # never the user's cache
    return [draw_poster(tmp_path / f"variant{i}.png", seed=10 + i, size=(120, 180)) for i in range(3)]


def compare_json(monkeypatch, capsys, *args) -> dict:
    code, out, err = run_moviegenre(monkeypatch, capsys, "compare", *args, "--json", "--no-progress")
    assert code == 0, err
    return json.loads(out)


def test_score_is_the_stated_formula() -> None:
    probabilities = {"Action": 0.8, "Comedy": 0.3, "Drama": 0.6}
    thresholds = {"Action": 0.5, "Comedy": 0.5, "Drama": 0.4}
    # margins: Action +0.3, Comedy -0.2, Drama +0.2
    assert score(probabilities, thresholds, ["Action"]) == (pytest.approx(0.1), "Drama")
    assert score(probabilities, thresholds, ["Action", "Comedy"]) == (pytest.approx(0.05 - 0.2), "Drama")
    assert score(probabilities, thresholds, ["Drama"]) == (pytest.approx(0.2 - 0.3), "Action")
    assert score(probabilities, thresholds, list(probabilities)) == (pytest.approx(0.1), None)


def test_ranking_sorts_by_score_and_keeps_ties_in_input_order() -> None:
    thresholds = {"A": 0.5, "B": 0.5}
    results = [{"genres": [], "probabilities": {"A": a, "B": b}, "thresholds": thresholds, "model": "m"}
               for a, b in [(0.2, 0.1), (0.9, 0.1), (0.9, 0.6), (0.9, 0.1)]]
    result = comparison([(f"p{i}", None, r, i) for i, r in enumerate(results)], ["A"], [])
    assert result["scores"] == pytest.approx([0.1, 0.8, 0.3, 0.8])
    assert result["ranking"] == [1, 3, 2, 0]
    assert [v["strongest_unintended"] for v in result["variants"]] == ["B"] * 4
    plain = comparison([(f"p{i}", None, r, i) for i, r in enumerate(results)], [], [])
    assert plain["scores"] is None and plain["ranking"] == [0, 1, 2, 3] and plain["score"] is None


def test_cli_agrees_with_predict_and_ranks_by_the_score(monkeypatch, capsys, tiny_run: Path,
                                                        posters: list[Path]) -> None:
    def predict(poster: Path, description: str) -> dict:
        code, out, err = run_moviegenre(monkeypatch, capsys, "predict", tiny_run, "--poster", poster,
                                        "--description", description, "--json")
        assert code == 0, err
        return json.loads(out)

    first = predict(posters[0], DESCRIPTION)  # one pair predicted before the comparison, the others after it
    result = compare_json(monkeypatch, capsys, *posters, "--description", DESCRIPTION, "--description",
                          OTHER_DESCRIPTION, "--genre", "horror", "--run", tiny_run)
    assert [(Path(v["poster"]).name, v["description"]) for v in result["variants"]] == \
        [(p.name, d) for p in posters for d in (DESCRIPTION, OTHER_DESCRIPTION)]
    assert result["intended"] == ["Horror"] and result["errors"] == []
    for variant in result["variants"]:
        expected = first if variant is result["variants"][0] else predict(Path(variant["poster"]),
                                                                          variant["description"])
        assert variant["probabilities"] == expected["probabilities"]
        assert variant["genres"] == expected["genres"]
        assert result["thresholds"] == expected["thresholds"]
    # The stated score, recomputed from the printed probabilities and thresholds, orders the variants.
    margins = [{g: p - result["thresholds"][g] for g, p in v["probabilities"].items()} for v in result["variants"]]
    expected_scores = [m["Horror"] - max(x for g, x in m.items() if g != "Horror") for m in margins]
    assert result["scores"] == pytest.approx(expected_scores, abs=1e-4)
    assert result["ranking"] == sorted(range(6), key=lambda i: -result["scores"][i])
    assert len(set(result["scores"])) > 1  # the descriptions make a difference: the ordering means something
    assert all(v["strongest_unintended"] != "Horror" for v in result["variants"])


def test_cli_reports_a_bad_file_and_compares_the_others(monkeypatch, capsys, tiny_run: Path, posters: list[Path],
                                                        tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    missing = tmp_path / "missing.png"
    result = compare_json(monkeypatch, capsys, posters[0], bad, posters[1], missing, "--run", tiny_run)
    assert [Path(v["poster"]).name for v in result["variants"]] == [posters[0].name, posters[1].name]
    assert [Path(e["poster"]).name for e in result["errors"]] == ["broken.png", "missing.png"]
    assert "broken.png: not an image" in result["errors"][0]["error"]
    assert "missing.png: cannot read" in result["errors"][1]["error"]
    assert result["scores"] is None and result["ranking"] == [0, 1] and result["intended"] == []
    # In the table output the skipped files are named on stderr, one line each.
    code, out, err = run_moviegenre(monkeypatch, capsys, "compare", posters[0], bad, "--run", tiny_run,
                                    "--no-progress")
    assert code == 0 and posters[0].name in out
    assert [line for line in err.splitlines() if line.startswith("skipped:")] == \
        [f"skipped: {bad}: not an image (give a JPEG, PNG, WebP or GIF poster)"]


def test_cli_errors_are_one_line(monkeypatch, capsys, tiny_run: Path, posters: list[Path], tmp_path: Path) -> None:
    with monkeypatch.context() as patch:  # an unknown genre is caught before the model loads
        patch.setattr(Predictor, "__init__", lambda *args: pytest.fail("the model was loaded"))
        code, _, err = run_moviegenre(monkeypatch, capsys, "compare", posters[0], "--genre", "Horor", "--run",
                                      tiny_run)
    assert code == 2 and err.startswith("error: --genre: unknown genre 'Horor' (known: Action, Comedy, Drama, ")
    assert len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    code, _, err = run_moviegenre(monkeypatch, capsys, "compare", bad, "--run", tiny_run)
    assert code == 2 and err.strip() == f"error: {bad}: not an image (give a JPEG, PNG, WebP or GIF poster)"


def test_out_writes_the_review_report(monkeypatch, capsys, tiny_run: Path, posters: list[Path],
                                      tmp_path: Path) -> None:
    out = tmp_path / "review"
    result = compare_json(monkeypatch, capsys, *posters, "--genre", "Horror", "--genre", "Drama", "--run", tiny_run,
                          "--out", out)
    markdown = (out / "compare.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "`" in line]
    assert [row.split("|")[2].strip().strip("`") for row in rows] == \
        [result["variants"][i]["poster"] for i in result["ranking"]]
    assert "Horror, Drama" in markdown and "mean over the intended genres" in markdown
    sheet = Image.open(out / "contact-sheet.png")
    assert sheet.format == "PNG" and sheet.width > 3 * 360 and sheet.height > 250
    # The heat maps are there: a tile's poster area is not just the dimmed poster (hot colours are laid over).
    assert len(set(sheet.crop((20, 50, 170, 280)).getdata())) > 50


# -- the API --------------------------------------------------------------------------------------------------
def test_api_agrees_with_predict_and_reports_bad_files(client: TestClient, posters: list[Path]) -> None:
    files = [("posters", (p.name, p.read_bytes(), "image/png")) for p in posters]
    files.insert(1, ("posters", ("notes.png", b"hello", "image/png")))
    response = client.post("/compare", files=files, data={"description": DESCRIPTION, "genre": ["horror"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [v["poster"] for v in body["variants"]] == [p.name for p in posters]
    assert body["errors"] == [{"poster": "notes.png", "poster_index": 1, "status": 415,
                               "error": "notes.png: poster: not a JPEG, PNG, WebP or GIF image"}]
    assert body["intended"] == ["Horror"] and len(body["scores"]) == 3
    assert body["ranking"] == sorted(range(3), key=lambda i: -body["scores"][i])
    for poster, variant in zip(posters, body["variants"]):
        single = client.post("/predict", files={"poster": (poster.name, poster.read_bytes(), "image/png")},
                             data={"description": DESCRIPTION}).json()
        assert variant["genres"] == single["genres"] and variant["description"] == DESCRIPTION
        assert variant["probabilities"] == single["probabilities"]
        assert body["thresholds"] == single["thresholds"]


def test_api_variants_and_errors_give_their_posters_position(client: TestClient, posters: list[Path]) -> None:
    """The page matches variants to its uploads by position: names may repeat, and a browser sends a name with a
    quote as %22."""
    files = [("posters", ("same.png", posters[0].read_bytes(), "image/png")),
             ("posters", ("same.png", b"hello", "image/png")),
             ("posters", ('a"b.png', posters[1].read_bytes(), "image/png")),
             ("posters", ("same.png", posters[2].read_bytes(), "image/png")),
             ("posters", ("other.png", b"", "image/png"))]
    response = client.post("/compare", files=files, data={"genre": "Horror"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [v["poster_index"] for v in body["variants"]] == [0, 2, 3]
    assert [e["poster_index"] for e in body["errors"]] == [1, 4]
    single = client.post("/predict", files={"poster": ("p.png", posters[2].read_bytes(), "image/png")}).json()
    assert body["variants"][2]["probabilities"] == single["probabilities"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "poster_index" in schema["CompareVariant"]["required"] and "poster_index" in schema["CompareError"]["required"]


def test_the_library_and_cli_give_each_variant_its_posters_position(monkeypatch, capsys, tiny_run: Path,
                                                                    posters: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    result = compare(Predictor(tiny_run), [posters[0], bad, posters[0]], [DESCRIPTION, OTHER_DESCRIPTION])
    assert [v["poster_index"] for v in result["variants"]] == [0, 0, 2, 2]
    assert [(e["poster"], e["poster_index"]) for e in result["errors"]] == [(str(bad), 1)]
    printed = compare_json(monkeypatch, capsys, bad, posters[1], "--run", tiny_run)
    assert [v["poster_index"] for v in printed["variants"]] == [1]
    assert [e["poster_index"] for e in printed["errors"]] == [0]


def test_compare_reads_a_title_as_predict_does(monkeypatch, capsys, client: TestClient, tiny_run: Path,
                                               posters: list[Path]) -> None:
    poster = posters[0].read_bytes()
    titled = client.post("/compare", files=[("posters", ("p.png", poster, "image/png"))],
                         data={"description": DESCRIPTION, "title": "Movie 7"})
    assert titled.status_code == 200, titled.text
    single = client.post("/predict", files={"poster": ("p.png", poster, "image/png")},
                         data={"description": DESCRIPTION, "title": "Movie 7"}).json()
    untitled = client.post("/predict", files={"poster": ("p.png", poster, "image/png")},
                           data={"description": DESCRIPTION}).json()
    assert single["used"]["title"] is True and single["probabilities"] != untitled["probabilities"]
    assert titled.json()["variants"][0]["probabilities"] == single["probabilities"]
    twice = client.post("/compare", files=[("posters", ("p.png", poster, "image/png"))],
                        data={"description": DESCRIPTION, "title": ["A", "B"]})
    assert twice.status_code == 422 and twice.json()["detail"] == "title: given 2 times (send it once)"
    # The library and the command read it too, as Predictor.predict and `moviegenre predict --title` do.
    predictor = Predictor(tiny_run)
    expected = predictor.predict(poster=posters[0], description=DESCRIPTION, title="Movie 7")["probabilities"]
    assert compare(predictor, posters[:1], [DESCRIPTION], title="Movie 7")["variants"][0]["probabilities"] == expected
    printed = compare_json(monkeypatch, capsys, posters[0], "--description", DESCRIPTION, "--title", "Movie 7",
                           "--run", tiny_run)
    assert printed["variants"][0]["probabilities"] == expected
    with pytest.raises(DataError, match="^title: not UTF-8 text"):
        compare(predictor, posters[:2], [DESCRIPTION], title="bad \udcff")


@pytest.mark.parametrize("case, status, message", [
    ("unknown genre", 422, "genre: unknown genre 'Westren' (known: Action, Comedy"),
    ("too many", 413, f"over the {MAX_COMPARE_POSTERS} limit"),
    ("all bad", 415, "a.png: poster: not a JPEG, PNG, WebP or GIF image"),
    ("no posters", 422, "posters: Field required"),
])
def test_api_errors_are_one_line_4xx(client: TestClient, poster_bytes: bytes, case: str, status: int,
                                     message: str) -> None:
    files = [("posters", ("p.png", poster_bytes, "image/png"))]
    data = {}
    if case == "unknown genre":
        data = {"genre": "Westren"}
    elif case == "too many":
        files = files * (MAX_COMPARE_POSTERS + 1)
    elif case == "all bad":
        files = [("posters", ("a.png", b"plain text", "image/png"))]
    elif case == "no posters":
        files, data = None, {"genre": "Horror"}
    response = client.post("/compare", files=files, data=data)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert message in detail and "\n" not in detail


def test_explain_can_name_the_genres(client: TestClient, poster_bytes: bytes) -> None:
    body = client.post("/explain", files={"poster": ("p.png", poster_bytes, "image/png")},
                       data={"genre": ["Horror", "Drama"]}).json()
    assert body["explained"] == ["Horror", "Drama"] and set(body["heatmaps"]) == {"Horror", "Drama"}


# -- bad arguments and paths ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["out is a file", "out below a file", "blurb not UTF-8", "title not UTF-8"])
def test_bad_arguments_fail_before_the_model_loads(monkeypatch, capsys, tiny_run: Path, posters: list[Path],
                                                   tmp_path: Path, case: str) -> None:
    notes = tmp_path / "notes"
    notes.write_text("a file")
    args, expected = {
        "out is a file": (["--out", notes], f"error: --out {notes}: is a file; give a folder"),
        "out below a file": (["--out", notes / "review"],
                             f"error: --out {notes / 'review'}: {notes} is a file; give a folder"),
        # Once listed as an error of every poster (and the posters as not compared); now the blurb is named.
        "blurb not UTF-8": (["--description", DESCRIPTION, "--description", "bad \udcff"],
                            ("error: description: not UTF-8 text (character 5 is an undecodable byte) "
                             "(give it in UTF-8)")),
        "title not UTF-8": (["--title", "bad \udcff"],
                            "error: title: not UTF-8 text (character 5 is an undecodable byte) (give it in UTF-8)"),
    }[case]
    with monkeypatch.context() as patch:
        patch.setattr(Predictor, "__init__", lambda *args: pytest.fail("the model was loaded"))
        code, _, err = run_moviegenre(monkeypatch, capsys, "compare", posters[0], "--genre", "Horror", "--run",
                                      tiny_run, *args)
    assert code == 2 and err.strip() == expected


def test_the_api_names_a_bad_blurb_not_the_posters(tiny_run: Path, posters: list[Path]) -> None:
    with pytest.raises(DataError, match="^description: not UTF-8 text"):
        compare(Predictor(tiny_run), posters[:2], [DESCRIPTION, "bad \udcff"])


def test_report_paths_that_cannot_be_written_are_one_line_errors(tiny_run: Path, posters: list[Path],
                                                                 tmp_path: Path) -> None:
    predictor = Predictor(tiny_run)
    plain = compare(predictor, posters[:1])
    (tmp_path / "notes").write_text("a file")
    with pytest.raises(DataError, match="notes is a file, not a folder"):  # was FileExistsError from mkdir
        write_report(plain, tmp_path / "notes", predictor)
    # A poster replaced by a folder between scoring and the heat maps is read by the project's safe reader.
    ranked = compare(predictor, posters[1:2], intended=["Horror"])
    posters[1].unlink()
    posters[1].mkdir()
    with pytest.raises(ImageError, match="not a regular file"):  # was IsADirectoryError from read_bytes
        write_report(ranked, tmp_path / "review", predictor)


def test_an_interrupted_report_leaves_no_earlier_ranking_beside_a_new_sheet(tiny_run: Path, posters: list[Path],
                                                                           tmp_path: Path, monkeypatch) -> None:
    from moviegenre.serving import compare as module

    predictor = Predictor(tiny_run)
    write_report(compare(predictor, posters[:2]), tmp_path / "review", predictor)
    assert (tmp_path / "review" / "compare.md").exists()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "atomic_write_text", killed)  # killed once the new sheet is written
    with pytest.raises(KeyboardInterrupt):
        write_report(compare(predictor, posters[2:3]), tmp_path / "review", predictor)
    assert not (tmp_path / "review" / "compare.md").exists()


def test_the_table_piped_to_a_file_keeps_every_number_whole(monkeypatch, capsys, tiny_run: Path,
                                                           posters: list[Path]) -> None:
    """At a console's 80 columns, two blurbs made the scores '+0.…' and the poster names 'nigh / t.pn / g'."""
    blurbs = ["On the last night before the city is evacuated, a detective hunts a killer who leaves no trace.",
              "A family's last night in their old house, where something waits in the dark."]
    result = compare_json(monkeypatch, capsys, *posters, "--genre", "Horror", "--description", blurbs[0],
                          "--description", blurbs[1], "--run", tiny_run)
    code, out, _ = run_moviegenre(monkeypatch, capsys, "compare", *posters, "--genre", "Horror", "--description",
                                  blurbs[0], "--description", blurbs[1], "--run", tiny_run, "--no-progress")
    assert code == 0 and "…" not in out.replace("the strongest other's", "")
    assert all(f"{score:+.3f}" in out for score in result["scores"])
    assert all(Path(variant["poster"]).name in out for variant in result["variants"])
