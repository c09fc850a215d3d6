"""``moviegenre explain`` checks its poster and its other arguments before the model loads: a bad one is a
one-line error naming the file or option, at once. Its outputs replace an earlier movie's, never its own poster."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from conftest import GENRES, draw_poster, run_moviegenre
from moviegenre.data.images import MAX_IMAGE_BYTES
from moviegenre.serving import predictor

LOAD_MODEL = predictor.load_model


pytestmark = pytest.mark.usefixtures("no_model_load")  # every check here comes before the model loads


def bad_poster(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A poster file that cannot be used, and what the error must say after naming it."""
    path = tmp_path / "poster.png"
    if kind == "missing":
        return path, "cannot read (No such file or directory)"
    if kind == "folder":
        path.mkdir()
        return path, "not a regular file"
    if kind == "text":
        path.write_text("a poster, honestly")
        return path, "not an image"
    if kind == "truncated":
        data = draw_poster(tmp_path / "whole.png", size=(200, 300)).read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path, "damaged or truncated image"
    if kind == "oversized":
        with path.open("wb") as handle:  # sparse: no disk used
            handle.truncate(MAX_IMAGE_BYTES + 1)
        return path, f"{MAX_IMAGE_BYTES + 1:,} bytes, over the {MAX_IMAGE_BYTES:,} byte limit"
    Image.new("1", (8000, 8000)).save(path)  # a decompression bomb: 64 MP in a few kB
    return path, "over the 40,000,000 limit"


@pytest.mark.parametrize("kind", ["missing", "folder", "text", "truncated", "oversized", "bomb"])
def test_a_bad_poster_is_one_line_naming_the_file_before_the_model_loads(kind, tmp_path, monkeypatch, capsys):
    path, problem = bad_poster(tmp_path, kind)
    code, out, err = run_moviegenre(monkeypatch, capsys, "explain", "--poster", path, "--out", tmp_path / "why")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}: ") and problem in err and err.count("\n") == 1, err
    assert not (tmp_path / "why").exists()


@pytest.mark.parametrize(("args", "starts"), [
    (["--description", "a ghost", "--top", "0"], "error: --top 0: give at least 1"),
    ([], "error: input: nothing to predict from"),
    (["--description", "   "], "error: input: nothing to predict from"),
    (["--description", "caf\udce9"], "error: description: not UTF-8 text"),
    (["--description", "a ghost", "--title", "caf\udce9"], "error: title: not UTF-8 text"),
    (["--description", "a ghost", "--out", "{file}"], "error: --out {file}: is a file; give a folder"),
])
def test_other_arguments_are_one_line_before_the_model_loads(args, starts, tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    file = tmp_path / "notes.txt"
    code, _, err = run_moviegenre(monkeypatch, capsys, "explain", *(a.format(file=file) for a in args))
    assert code == 2 and err.startswith(starts.format(file=file)) and err.count("\n") == 1, err
    assert file.read_text() == "mine"


def test_a_good_poster_gets_as_far_as_the_model(tmp_path, monkeypatch, capsys):
    poster = draw_poster(tmp_path / "poster.jpg")
    with pytest.raises(AssertionError, match="was loaded"):
        run_moviegenre(monkeypatch, capsys, "explain", "--poster", poster, "--out", tmp_path / "why")


@pytest.mark.parametrize("name", ["overlay-Drama.png", "words.csv"])
def test_a_poster_named_like_an_output_in_out_is_refused_before_the_model_loads(name, tmp_path, monkeypatch,
                                                                                  capsys):
    # Any overlay-*.png, not only those of the model's genres: explain removes an earlier movie's overlays.
    poster = tmp_path / "why" / name
    data = draw_poster(tmp_path / "why" / "poster.png").read_bytes()
    poster.write_bytes(data)
    code, _, err = run_moviegenre(monkeypatch, capsys, "explain", "--poster", poster, "--out", tmp_path / "why")
    assert (code, err) == (2, f"error: --out: writing {poster} would overwrite the input {poster}; give another path\n")
    assert poster.read_bytes() == data


@pytest.fixture(scope="module")
def poster_run(session_tiny_table_csv, tmp_path_factory) -> Path:
    """The quickest run that explains a poster: poster-mlp, one member, one epoch."""
    from moviegenre.training.pipeline import train

    out = tmp_path_factory.mktemp("poster") / "run"
    train(session_tiny_table_csv, "poster-mlp", out, min_genre_count=3, max_epochs=1, progress=False,
          params={"ensemble": 1})
    return out


def test_an_earlier_movies_outputs_are_replaced_and_nothing_else(poster_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(predictor, "load_model", LOAD_MODEL)  # this one explains
    out = tmp_path / "why"
    (out / "overlay-Old.png").mkdir(parents=True)  # a folder: not explain's to remove
    kept = {"notes.txt": b"mine", "overlay-notes.txt": b"mine too", "words.tsv": b"and this"}
    earlier = {"overlay-Crime.png": b"an earlier movie's heat map", "words.csv": b"word,Crime\nshadow,0.2\n"}
    for name, data in {**kept, **earlier}.items():
        (out / name).write_bytes(data)
    code, _, err = run_moviegenre(monkeypatch, capsys, "explain", poster_run, "--poster",
                                  draw_poster(tmp_path / "poster.png"), "--top", "1", "--out", out)
    assert code == 0, err
    new = {path.name for path in out.iterdir()} - {*kept, "overlay-Old.png"}
    assert len(new) == 1 and new.pop() in {f"overlay-{genre}.png" for genre in GENRES}  # no earlier one left
    assert {name: (out / name).read_bytes() for name in kept} == kept


def test_explain_takes_the_genres_to_explain_and_a_title_as_predict_does(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(predictor, "load_model", LOAD_MODEL)  # this one explains, with the packaged model
    description = "A ghost haunts a family's new house; at night the children hear it scream."
    code, out, err = run_moviegenre(monkeypatch, capsys, "explain", "--description", description, "--genre", "comedy",
                                    "--title", "Laughing Matters", "--out", tmp_path / "why")
    assert code == 0, err
    assert (tmp_path / "why" / "words.csv").read_text().splitlines()[0] == "word,Comedy"  # that genre alone
    code, predicted, err = run_moviegenre(monkeypatch, capsys, "predict", "--description", description, "--title",
                                          "Laughing Matters")
    assert code == 0, err
    assert out.splitlines()[0].split("  ")[0] == predicted.splitlines()[0].split("  ")[0]  # genres: the same
