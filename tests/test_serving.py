"""The web service: predictions, batch, explanations, model info, and a clear 4xx for every bad input.

A tiny fusion-gmu run is trained once per session on synthetic movies (``tiny_run``); the other serving
test modules import it from here.
"""

from __future__ import annotations

import base64
import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from conftest import GENRES, WORDS, draw_poster, make_tiny_table, run_moviegenre
from moviegenre.serving import app as app_module
from moviegenre.serving.app import create_app
from moviegenre.serving.predictor import Predictor
from moviegenre.serving.schemas import MAX_BATCH_ITEMS, MAX_POSTER_BYTES, MAX_REQUEST_BYTES

DESCRIPTION = "A ghost haunts the night; blood and a scream in the dark."
PLACE = r"the centre|the (top|middle|bottom) (left|centre|right)"
HOTTEST = rf"({PLACE})( and ({PLACE}))?"  # where a heat map is hottest, in words (two places where they come close)


@lru_cache(maxsize=1)
def build_tiny_run(root: Path) -> Path:
    """Train fusion-gmu for 3 epochs on 60 synthetic movies (posters drawn per genre, genre words as text)."""
    from moviegenre.training.pipeline import train

    table = make_tiny_table(root)
    train(table, "fusion-gmu", root / "run", min_genre_count=5, max_epochs=3, progress=False)
    return root / "run"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """As ``moviegenre serve`` runs: on a shared 2-core machine, intra-op threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_run(tmp_path_factory.getbasetemp() / "tiny-serving-run")


@pytest.fixture(scope="session")
def client(tiny_run: Path):
    with TestClient(create_app(tiny_run, workers=2)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def poster_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return draw_poster(tmp_path_factory.mktemp("poster") / "p.png", seed=3, size=(120, 180)).read_bytes()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# -- predictions -----------------------------------------------------------------------------------------------
def test_predict_matches_the_predictor(client: TestClient, tiny_run: Path, poster_bytes: bytes) -> None:
    response = client.post("/predict", files={"poster": ("p.png", poster_bytes, "image/png")},
                           data={"description": DESCRIPTION})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = Predictor(tiny_run).predict(poster=poster_bytes, description=DESCRIPTION)
    assert body["used"] == {"poster": True, "description": True, "title": False}
    assert body["genres"] == expected["genres"]
    assert set(body["probabilities"]) == set(body["thresholds"]) == set(expected["probabilities"])
    for genre, probability in expected["probabilities"].items():
        assert body["probabilities"][genre] == pytest.approx(probability, abs=2e-4)
    assert body["model"] == "fusion-gmu" and len(body["model_version"]) == 12


def test_a_large_poster_alone_is_read_alike_by_the_python_api_and_the_service(client: TestClient, tiny_run: Path,
                                                                              tmp_path: Path) -> None:
    """Both decode it near 448 px (the service did, the Python API at full size), so both read the same text off it
    and give the same genres; a print-size scan of the example poster, its title and tagline in small type."""
    example = Image.open(Path(__file__).parents[1] / "examples" / "poster.png").convert("RGB")
    path = tmp_path / "large.jpg"
    example.resize((example.width * 9, example.height * 9), Image.Resampling.BICUBIC).save(path, quality=85)
    expected = Predictor(tiny_run).predict(poster=path)
    body = client.post("/predict", files={"poster": ("large.jpg", path.read_bytes(), "image/jpeg")}).json()
    assert body["genres"] == expected["genres"]
    for genre, probability in expected["probabilities"].items():
        assert body["probabilities"][genre] == pytest.approx(probability, abs=2e-4), genre


def test_an_optional_title_is_read_beside_the_inputs_as_the_predictor_reads_it(client: TestClient, tiny_run: Path,
                                                                                 poster_bytes: bytes) -> None:
    files = {"poster": ("p.png", poster_bytes, "image/png")}
    titled = client.post("/predict", files=files, data={"description": DESCRIPTION, "title": "Movie 7"}).json()
    untitled = client.post("/predict", files=files, data={"description": DESCRIPTION}).json()
    expected = Predictor(tiny_run).predict(poster=poster_bytes, description=DESCRIPTION, title="Movie 7")
    assert titled["used"] == expected["used"] == {"poster": True, "description": True, "title": True}
    for genre, probability in expected["probabilities"].items():
        assert titled["probabilities"][genre] == pytest.approx(probability, abs=2e-4)
    assert titled["probabilities"] != untitled["probabilities"]
    batch = client.post("/predict/batch", json={"items": [{"description": DESCRIPTION, "title": "Movie 7"}]}).json()
    assert batch["results"][0]["prediction"]["used"]["title"] is True
    explained = client.post("/explain", files=files, data={"description": DESCRIPTION, "title": "Movie 7"}).json()
    assert explained["probabilities"] == titled["probabilities"]
    too_long = client.post("/predict", data={"description": DESCRIPTION, "title": "x" * 301})
    assert too_long.status_code == 422 and "title: 301 characters" in too_long.json()["detail"]


def test_the_predict_command_takes_an_optional_title(monkeypatch, capsys, tiny_run: Path) -> None:
    import json

    code, out, _ = run_moviegenre(monkeypatch, capsys, "predict", tiny_run, "--description", DESCRIPTION,
                                  "--title", "Movie 7", "--json")
    assert code == 0
    result = json.loads(out)
    predictor = Predictor(tiny_run)
    assert result == {**predictor.predict(description=DESCRIPTION, title="Movie 7"), "model_version": predictor.version}
    assert list(result["used"].items()) == [("poster", False), ("description", True), ("title", True)]
    with TestClient(create_app(tiny_run, workers=1)) as service:  # the same keys, in the same order, as the service's
        served = service.post("/predict", data={"description": DESCRIPTION, "title": "Movie 7"}).json()
    assert list(served) == list(result) and list(served["used"]) == list(result["used"])
    assert served["model_version"] == result["model_version"]
    code, out, _ = run_moviegenre(monkeypatch, capsys, "predict", tiny_run, "--description", DESCRIPTION, "--json")
    assert code == 0 and json.loads(out)["used"]["title"] is False


def test_the_python_api_takes_a_poster_as_a_path_its_bytes_or_a_pil_image(tiny_run: Path, tmp_path: Path,
                                                                          poster_bytes: bytes) -> None:
    from moviegenre.errors import DataError
    from moviegenre.serving.explain import Explainer

    predictor = Predictor(tiny_run)
    path = tmp_path / "p.png"
    path.write_bytes(poster_bytes)
    expected = predictor.predict(poster=poster_bytes, description=DESCRIPTION)
    for poster in (str(path), path, bytearray(poster_bytes), memoryview(poster_bytes), Image.open(path)):
        assert predictor.predict(poster=poster, description=DESCRIPTION) == expected, type(poster)
    explained = Explainer(predictor).explain(poster=Image.open(path), description=DESCRIPTION)
    assert explained.prediction["probabilities"] == expected["probabilities"]
    assert predictor.predict(poster="", description=DESCRIPTION)["used"]["poster"] is False  # as a table's empty cell
    with pytest.raises(DataError, match=r"^poster: cannot read a poster from type int \(give a file path"):
        predictor.predict(poster=7, description=DESCRIPTION)
    with pytest.raises(DataError, match=r"^poster: image is 7000x7000 pixels, over the 40,000,000 limit"):
        predictor.predict(poster=Image.new("RGB", (7000, 7000)))
    with pytest.raises(DataError, match=r"^description: type bytes is not text \(give a string\)$"):
        predictor.predict(description=DESCRIPTION.encode())


@pytest.mark.parametrize("fields", [{"files": "poster"}, {"data": "description"}])
def test_either_input_alone(client: TestClient, poster_bytes: bytes, fields: dict) -> None:
    kwargs = {"files": {"poster": ("p.png", poster_bytes, "image/png")}} if "files" in fields \
        else {"data": {"description": DESCRIPTION}}
    body = client.post("/predict", **kwargs).json()
    assert body["used"] == {"poster": "files" in fields, "description": "data" in fields, "title": False}
    assert all(body["probabilities"][g] >= body["thresholds"][g] for g in body["genres"])


def test_batch_gives_each_item_its_prediction_or_its_error(client: TestClient, poster_bytes: bytes) -> None:
    items = [{"description": DESCRIPTION}, {"poster": base64.b64encode(poster_bytes).decode()},
             {"poster": "not base64!"}, {}]
    results = client.post("/predict/batch", json={"items": items}).json()["results"]
    assert results[0]["prediction"]["used"] == {"poster": False, "description": True, "title": False}
    assert results[1]["prediction"]["used"] == {"poster": True, "description": False, "title": False}
    assert results[2]["error"] == {"status": 422, "detail": "items[2].poster: not valid base64"}
    assert results[3]["error"]["status"] == 400 and "items[3].input: nothing to predict from" in results[3]["error"]["detail"]


def test_concurrent_requests_are_batched_without_mixing_answers(client: TestClient, poster_bytes: bytes) -> None:
    def ask(index: int) -> dict:
        files = {"poster": ("p.png", poster_bytes, "image/png")} if index % 2 else None
        return client.post("/predict", files=files, data={"description": WORDS[GENRES[index % 5]]}).json()

    alone = [ask(i) for i in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(ask, range(10)))
    for single, batched in zip(alone, together):
        assert batched["used"] == single["used"]
        assert batched["probabilities"] == pytest.approx(single["probabilities"], abs=2e-4)


def test_explain_returns_overlays_and_word_scores(client: TestClient, poster_bytes: bytes) -> None:
    response = client.post("/explain", files={"poster": ("p.png", poster_bytes, "image/png")},
                           data={"description": DESCRIPTION, "top": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["explained"]) == 2 and set(body["heatmaps"]) == set(body["hottest"]) == set(body["explained"])
    assert all(re.fullmatch(HOTTEST, words) or words == "" for words in body["hottest"].values())
    layer = Image.open(io.BytesIO(base64.b64decode(body["heatmaps"][body["explained"][0]].split(",", 1)[1])))
    assert layer.format == "PNG" and layer.mode == "RGBA" and layer.size == (224, 336)  # the poster's 2:3 shape
    assert [w["text"] for w in body["words"]][:3] == ["A", "ghost", "haunts"]
    assert all(len(body["word_scores"][g]) == len(body["words"]) for g in body["explained"])


def test_health_and_model_info(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/model").json()
    assert info["genres"] == sorted(GENRES) and set(info["thresholds"]) == set(GENRES)
    assert info["encoders"] == {"image": "efficientnet-lite0+lite1+lite2+flip", "text": "mpnet-l11"}
    assert info["training"]["data"] == "movies.csv" and info["training"]["rows"]["train"] > 0
    paths = client.get("/openapi.json").json()["paths"]
    assert "/predict" in paths
    assert paths["/predict/batch"]["post"]["description"].startswith(f"Up to {MAX_BATCH_ITEMS} movies at once")


def test_page_and_static_files_are_served(client: TestClient) -> None:
    page = client.get("/").text
    assert page.count("<title>") == 1 and "<title>moviegenre: what genre does it say?</title>" in page
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_requests_never_reload_the_model(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("the model was loaded again")

    monkeypatch.setattr(Predictor, "__init__", forbidden)
    monkeypatch.setattr(app_module, "Predictor", forbidden)
    assert client.post("/predict", data={"description": DESCRIPTION}).status_code == 200


# -- every bad input: a 4xx with a one-line message ----------------------------------------------------------
def bomb() -> bytes:
    return png(Image.new("1", (8000, 8000)))  # 64 MP in a few kB


BAD_INPUTS = {
    "empty request": ({"data": {}, "headers": {"content-type": "multipart/form-data; boundary=x"},
                       "content": b"--x--\r\n"}, 400, "input: nothing to predict from"),
    "blank description": ({"data": {"description": "   "}}, 400, "input: nothing to predict from"),
    "a source's placeholder for a missing plot": ({"data": {"description": "Add a Plot »"}}, 400, (
        "input: nothing to predict from (give a poster, a description, or both (a title is read only beside them); a "
        "blank description, or a source's placeholder for a missing plot such as 'Add a Plot »', is none)")),
    "json instead of a form": ({"json": {"description": "a ghost"}}, 415, "send multipart/form-data"),
    "text file": ({"files": {"poster": ("notes.txt", b"hello", "text/plain")}}, 415,
                  "poster: content type 'text/plain' is not an image"),
    "not an image": ({"files": {"poster": ("p.png", b"hello, not a png", "image/png")}}, 415,
                     "poster: not a JPEG, PNG, WebP or GIF image"),
    "empty poster": ({"files": {"poster": ("p.png", b"", "image/png")}}, 422, "poster: empty file"),
    "truncated image": ({"files": {"poster": ("p.png", "truncated", "image/png")}}, 422,
                        "poster: damaged or truncated image"),
    "decompression bomb": ({"files": {"poster": ("p.png", "bomb", "image/png")}}, 422,
                           "poster: image is 8000x8000 pixels, over the 40,000,000 limit"),
    "poster too large": ({"files": {"poster": ("p.png", b"\x89PNG\r\n\x1a\n" + bytes(MAX_POSTER_BYTES), "image/png")}},
                         413, f"poster: over the {MAX_POSTER_BYTES:,} byte limit"),
    "request too large": ({"content": bytes(MAX_REQUEST_BYTES + 1),
                           "headers": {"content-type": "multipart/form-data; boundary=x"}}, 413,
                          "request body over the"),
    "description too long": ({"data": {"description": "word " * 500}}, 422,
                             "description: 2,499 characters, over the 2,000 limit"),
    "poster sent as text": ({"data": {"poster": "abc"}}, 422, (
        "poster: a text field, not a file (send the image as a file part of a multipart/form-data body)")),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_a_clear_4xx(client: TestClient, poster_bytes: bytes, case: str) -> None:
    kwargs, status, message = BAD_INPUTS[case]
    if "files" in kwargs:
        name, data, kind = kwargs["files"]["poster"]
        data = {"truncated": poster_bytes[: len(poster_bytes) // 2], "bomb": bomb()}.get(data, data) \
            if isinstance(data, str) else data
        kwargs = {"files": {"poster": (name, data, kind)}}
    response = client.post("/predict", **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert message in detail and "\n" not in detail


def test_streamed_body_over_the_limit_is_stopped(client: TestClient) -> None:
    def chunks():  # no Content-Length: the limit must be counted as the body arrives
        for _ in range(MAX_REQUEST_BYTES // (1 << 20) + 2):
            yield bytes(1 << 20)

    response = client.post("/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "request body over the" in response.json()["detail"]


@pytest.mark.parametrize("items, message", [([], "items: List should have at least 1 item"),
                                            ([{}] * (MAX_BATCH_ITEMS + 1), "items: List should have at most 16")])
def test_batch_size_limits(client: TestClient, items: list, message: str) -> None:
    response = client.post("/predict/batch", json={"items": items})
    assert response.status_code == 422 and message in response.json()["detail"]


@pytest.mark.parametrize("top", ["0", "many"])
def test_explain_rejects_a_bad_top(client: TestClient, top: str) -> None:
    response = client.post("/explain", data={"description": DESCRIPTION, "top": top})
    assert response.status_code == 422 and response.json()["detail"].startswith("top: ")


def test_unknown_path_and_method_are_json_4xx(client: TestClient) -> None:
    assert client.get("/nope").json() == {"detail": "Not Found"}
    assert client.get("/predict").status_code == 405


# -- the whole OpenAPI surface, fuzzed: no input may cause a 5xx ---------------------------------------------
def test_openapi_fuzzing_finds_no_server_error(client: TestClient) -> None:
    """Valid and invalid requests for every operation (bounded: MOVIEGENRE_FUZZ_EXAMPLES per operation and mode)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    examples = int(os.environ.get("MOVIEGENRE_FUZZ_EXAMPLES", "12"))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/predict/batch", "/explain", "/model", "/health"}
    for operation in operations:
        # A GET without parameters has no invalid form to generate.
        modes = list(schemathesis.GenerationMode) if operation.method.upper() == "POST" \
            else [schemathesis.GenerationMode.POSITIVE]
        for mode in modes:
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case) -> None:
                case.call_and_validate(checks=[not_a_server_error])

            check()
