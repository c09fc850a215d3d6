"""The web service against a hostile client: every request it can send is a one-line 4xx naming the field (or a
503 while saturated), never a 500; one bad request cannot fail the others; waiting work is bounded."""

from __future__ import annotations

import asyncio
import json
import math
import queue
import re
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import draw_poster
from moviegenre.serving.app import create_app
from moviegenre.serving.batcher import Batcher
from moviegenre.serving.schemas import MAX_QUEUED_EXPLANATIONS
from test_serving import DESCRIPTION, build_tiny_run, one_torch_thread  # noqa: F401  (autouse)

FORM = {"content-type": "multipart/form-data; boundary=x"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    run = build_tiny_run(tmp_path_factory.getbasetemp() / "tiny-serving-run")
    with TestClient(create_app(run, workers=2)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def poster_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return draw_poster(tmp_path_factory.mktemp("poster") / "p.png", seed=3, size=(120, 180)).read_bytes()


def multipart(*fields: tuple[str, bytes]) -> bytes:
    parts = [b'--x\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value)
             for name, value in fields]
    return b"".join(parts) + b"--x--\r\n"


def one_line(response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert "\n" not in detail
    return detail


@pytest.mark.parametrize("body, headers, expected", [
    # Starlette read these bytes as Latin-1 ("café") or with U+FFFD, without a word.
    (multipart(("description", b"ghost caf\xe9 night")), FORM,
     "description: not UTF-8 text (character 10 is an undecodable byte) (give it in UTF-8)"),
    (multipart(("description", b"ghost night"), ("title", b"\xff")), FORM, "title: not UTF-8 text"),
    (b"description=ghost+caf%E9", {"content-type": "application/x-www-form-urlencoded"}, "description: not UTF-8"),
])
def test_form_text_that_is_not_utf8_is_a_422_naming_the_field(client: TestClient, body, headers, expected) -> None:
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 422 and response.json()["detail"].startswith(expected), response.text


def test_form_text_in_the_charset_the_request_names_is_read(client: TestClient) -> None:
    utf8 = client.post("/predict", content=multipart(("description", "ghost café".encode())), headers=FORM)
    latin1 = client.post("/predict", content=multipart(("description", b"ghost caf\xe9")),
                         headers={"content-type": FORM["content-type"] + "; charset=iso-8859-1"})
    assert utf8.status_code == latin1.status_code == 200, (utf8.text, latin1.text)
    assert utf8.json()["probabilities"] == latin1.json()["probabilities"]
    broken = client.post("/predict", content=b"--x\r\nno headers", headers=FORM)
    assert broken.status_code in (400, 422), broken.text  # Starlette's own answer to a malformed body, not a 500


@pytest.mark.parametrize("field", ["description", "title"])
def test_json_text_that_is_not_utf8_is_the_items_422(client: TestClient, field: str) -> None:
    # A lone surrogate is valid JSON but not text: it used to reach the tokenizer and fail the whole batch (500).
    item = {"description": "ghost \ud800", "title": "Movie"} if field == "description" else \
        {"description": "ghost night", "title": "\udcff"}
    response = client.post("/predict/batch", content=json.dumps({"items": [item, {"description": "ghost"}]}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    bad, good = response.json()["results"]
    assert bad["error"]["status"] == 422
    assert bad["error"]["detail"].startswith(f"items[0].{field}: not UTF-8 text")
    assert good["prediction"]["used"]["description"] is True


def test_a_data_url_without_a_comma_is_not_valid_base64(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"items": [{"poster": "data:image/png;base64"}]})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["error"] == {"status": 422, "detail": "items[0].poster: not valid base64"}


@pytest.mark.parametrize("path, fields, name", [
    ("/predict", [("description", b"ghost"), ("description", b"love kiss")], "description"),
    ("/predict", [("description", b"ghost"), ("title", b"A"), ("title", b"B")], "title"),
    ("/explain", [("description", b"ghost"), ("top", b"1"), ("top", b"2")], "top"),
])
def test_a_field_given_twice_is_named_not_silently_overwritten(client: TestClient, path: str, fields: list,
                                                               name: str) -> None:
    response = client.post(path, content=multipart(*fields), headers=FORM)
    assert one_line(response, 422) == f"{name}: given 2 times (send it once)"


def test_two_posters_for_one_movie_are_refused(client: TestClient, poster_bytes: bytes) -> None:
    files = [("poster", ("a.png", poster_bytes, "image/png")), ("poster", ("b.png", poster_bytes, "image/png"))]
    assert one_line(client.post("/predict", files=files), 422) == "poster: given 2 times (send it once)"


def test_compare_checks_the_description_once(client: TestClient, poster_bytes: bytes) -> None:
    files = [("posters", (f"{i}.png", poster_bytes, "image/png")) for i in range(2)]
    response = client.post("/compare", files=files, data={"description": "word " * 500})
    assert one_line(response, 422) == "description: 2,499 characters, over the 2,000 limit (shorten it)"


def test_explain_reads_genres_as_compare_does(client: TestClient) -> None:
    response = client.post("/explain", data={"description": DESCRIPTION, "genre": ["horror", "Horror", "HORROR"]})
    assert response.status_code == 200, response.text
    assert response.json()["explained"] == ["Horror"]
    detail = one_line(client.post("/explain", data={"description": DESCRIPTION, "genre": ["Nope"]}), 422)
    assert detail.startswith("genre: unknown genre 'Nope'")


def test_a_full_prediction_queue_is_a_503_saying_how_long_the_queued_batches_take(client: TestClient,
                                                                                    monkeypatch: pytest.MonkeyPatch):
    """Retry-After was 2 s however many predictions waited and however long a batch took."""
    batcher = client.app.state.service.batcher
    full = queue.Queue(40)
    for _ in range(40):
        full.put(None)  # the workers wait on the real queue and never take these
    monkeypatch.setattr(batcher, "jobs", full)
    monkeypatch.setattr(batcher.batch_duration, "seconds", 1.5)  # a recent batch took 1.5 s
    response = client.post("/predict", data={"description": DESCRIPTION})
    assert re.fullmatch(r"busy: \d+ predictions already wait for the model; retry shortly", one_line(response, 503))
    batches = math.ceil(40 / (batcher.max_batch * batcher.workers))  # each worker runs up to max_batch at once
    assert response.headers["retry-after"] == str(math.ceil(batches * 1.5))


def test_each_batch_run_moves_the_estimate_of_a_batchs_duration(client: TestClient,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    batcher = client.app.state.service.batcher
    monkeypatch.setattr(batcher.batch_duration, "seconds", 100.0)
    assert client.post("/predict", data={"description": DESCRIPTION}).status_code == 200
    # 0.7 of the estimate before, 0.3 of this batch's few seconds at most
    assert 70 < batcher.batch_duration.seconds < 100


def test_waiting_explanations_are_bounded(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.app.state.service, "explaining", MAX_QUEUED_EXPLANATIONS)
    response = client.post("/explain", data={"description": DESCRIPTION})
    assert one_line(response, 503).startswith(f"busy: {MAX_QUEUED_EXPLANATIONS} explanations")
    monkeypatch.undo()
    assert client.post("/explain", data={"description": DESCRIPTION}).status_code == 200
    assert client.app.state.service.explaining == 0  # released after each explanation, as after a 503


@pytest.mark.parametrize("data, status, start", [
    ({"description": "x" * 2001}, 422, "description: 2,001 characters"),
    ({"description": DESCRIPTION, "genre": ["Nope"]}, 422, "genre: unknown genre 'Nope'"),
    ({"description": "  "}, 400, "input: nothing to predict from"),
])
def test_a_bad_explain_request_is_answered_at_once_even_when_explanations_wait(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, data, status, start) -> None:
    monkeypatch.setattr(client.app.state.service, "explaining", MAX_QUEUED_EXPLANATIONS)  # a full queue
    assert one_line(client.post("/explain", data=data), status).startswith(start)  # its own error, not a 503


def test_poster_text_is_read_on_the_services_own_threads(client: TestClient, poster_bytes: bytes,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    threads = []
    monkeypatch.setattr(client.app.state.service.scorer, "poster_text",
                        lambda image: threads.append(threading.current_thread().name) or "")
    assert client.post("/predict", files={"poster": ("p.png", poster_bytes, "image/png")}).status_code == 200
    assert len(threads) == 1 and threads[0].startswith("moviegenre-poster-text")


def text_batcher(vectors) -> Batcher:
    """A batcher, its worker not started, over a stand-in model whose probability is the description's first
    component, as ``vectors`` embeds it."""
    scorer = SimpleNamespace(model=SimpleNamespace(dims_={"poster": 2, "description": 2}), description_vectors=vectors,
                             probabilities=lambda poster, description, texts, *_: np.asarray(description)[:, :1])
    return Batcher(scorer, workers=0)


def test_one_request_the_model_cannot_run_fails_alone() -> None:
    """Jobs queued together run as one batch; when the batch fails, each runs alone, so only the bad one fails."""
    def vectors(texts: list[str]) -> np.ndarray:
        if "poison" in texts:
            raise ValueError("the tokenizer cannot read this")
        return np.ones((len(texts), 2), np.float32)

    batcher = text_batcher(vectors)

    async def run() -> list:
        jobs = [asyncio.ensure_future(batcher.probabilities(None, text)) for text in ("ghost", "poison", "love")]
        await asyncio.sleep(0)  # all three queued before the worker starts: one batch
        assert batcher.jobs.qsize() == 3
        threading.Thread(target=batcher._work, daemon=True).start()
        return await asyncio.gather(*jobs, return_exceptions=True)

    good, bad, other = asyncio.run(run())
    assert isinstance(bad, ValueError)
    assert good.tolist() == other.tolist() == [1.0]


def test_the_compare_picker_takes_gif_as_the_service_does(client: TestClient) -> None:
    page = client.get("/").text
    assert page.count('accept="image/jpeg,image/png,image/webp,image/gif"') == 2


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("path, body, headers, start", [
    ("/predict/batch", b'{"items": [{"description": "ghost"}]}', {"content-type": "text/plain"},
     "content type 'text/plain': send application/json"),
    ("/predict/batch", b'{"items": [{"description": "ghost"}]}', {}, "content type 'none': send application/json"),
    ("/compare", b'{"posters": []}', JSON, "content type 'application/json': send multipart/form-data with a 'post"),
    ("/compare", b"", {}, "content type 'none': send multipart/form-data with a 'posters' file for each variant"),
    ("/explain", b"", {}, "content type 'none': send multipart/form-data with a 'poster' file and/or a 'description'"),
])
def test_a_body_of_the_wrong_kind_is_a_415_not_a_missing_field(client: TestClient, path, body, headers,
                                                               start) -> None:
    assert one_line(client.post(path, content=body, headers=headers), 415).startswith(start)


@pytest.mark.parametrize("body, start", [
    (b'{"items": [', "request body: not valid JSON (Expecting value at character 11)"),
    (b'{"items": [{"description": "caf\xe9"}]}', "request body: not UTF-8 (byte 32)"),
    (b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "request body: JSON nested too deep"),
    (b'{"items": [{"description": "a", "title": ' + b"9" * 5000 + b"}]}", "request body: JSON this service cannot"),
])
def test_json_the_service_cannot_parse_is_said_plainly(client: TestClient, body: bytes, start: str) -> None:
    assert one_line(client.post("/predict/batch", content=body, headers=JSON), 422).startswith(start)


def test_starlettes_form_limits_are_said_plainly(client: TestClient) -> None:
    detail = one_line(client.post("/predict", data={"description": "a" * (1024 * 1024 + 1)}), 413)
    assert detail.startswith("form: Field exceeded maximum size of 1024KB (send the poster as a file part")
    many = "&".join(["genre=Drama"] * 1001) + "&description=ghost"
    detail = one_line(client.post("/explain", content=many,
                                  headers={"content-type": "application/x-www-form-urlencoded"}), 413)
    assert detail.startswith("form: Too many fields")


def test_a_poster_sent_as_text_is_told_to_send_a_file(client: TestClient) -> None:
    detail = one_line(client.post("/predict", data={"poster": "abc", "description": "ghost"}), 422)
    assert detail.startswith("poster: a text field, not a file (send the image as a file part")


@pytest.mark.parametrize("text", ["\x00", "\u200b", "\ufeff", " \u200b\x00 "])
def test_a_description_of_invisible_characters_is_no_description(client: TestClient, text: str) -> None:
    assert one_line(client.post("/predict", data={"description": text}), 400).startswith("input: nothing to predict")
    used = client.post("/predict", data={"description": DESCRIPTION, "title": text}).json()["used"]
    assert used["title"] is False


def test_compare_shows_the_description_it_read(client: TestClient, poster_bytes: bytes) -> None:
    files = [("posters", (f"{i}.png", poster_bytes, "image/png")) for i in range(2)]
    response = client.post("/compare", files=files, data={"description": "N/A"})  # a placeholder: no description
    assert response.status_code == 200, response.text
    assert all(variant["description"] is None for variant in response.json()["variants"])


def test_an_unknown_genre_is_not_echoed_at_length(client: TestClient) -> None:
    detail = one_line(client.post("/explain", data={"description": DESCRIPTION, "genre": "x" * 100_000}), 422)
    assert detail.startswith("genre: unknown genre '" + "x" * 60 + "…'") and len(detail) < 1000


def test_an_image_type_the_service_does_not_read_is_named_as_such(client: TestClient, poster_bytes: bytes) -> None:
    response = client.post("/predict", files={"poster": ("p.bmp", poster_bytes, "image/bmp")})
    assert one_line(response, 415) == ("poster: content type 'image/bmp' is not one this service reads (send JPEG, "
                                       "PNG, WebP or GIF)")


# -- a saturated service, and clients that hang up -------------------------------------------------------------
@pytest.fixture
def full_prediction_queue(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    full = queue.Queue(1)
    full.put(None)  # the workers wait on the real queue and never take it
    monkeypatch.setattr(client.app.state.service.batcher, "jobs", full)
    monkeypatch.setattr(client.app.state.service.batcher.batch_duration, "seconds", 2.0)  # one batch: Retry-After 2


def test_a_busy_compare_is_the_services_503_not_a_posters(client: TestClient, poster_bytes: bytes,
                                                          full_prediction_queue) -> None:
    files = [("posters", (f"tt{i}.png", poster_bytes, "image/png")) for i in range(2)]
    response = client.post("/compare", files=files)
    assert re.fullmatch(r"busy: \d+ predictions already wait for the model; retry shortly", one_line(response, 503))
    assert response.headers["retry-after"] == "2"


def test_a_fully_busy_batch_is_a_503_and_a_partly_busy_one_names_its_items(client: TestClient,
                                                                            full_prediction_queue) -> None:
    response = client.post("/predict/batch", json={"items": [{"description": DESCRIPTION}, {"description": "ghost"}]})
    assert re.fullmatch(r"busy: \d+ predictions already wait for the model; retry shortly", one_line(response, 503))
    assert response.headers["retry-after"] == "2"
    response = client.post("/predict/batch", json={"items": [{"poster": "!!"}, {"description": "ghost"}]})
    assert response.status_code == 200, response.text
    bad, busy = (result["error"] for result in response.json()["results"])
    assert bad == {"status": 422, "detail": "items[0].poster: not valid base64"}
    assert busy["status"] == 503 and busy["detail"].startswith("items[1].busy: ")


def test_a_busy_explain_says_how_long_the_explanations_ahead_take(client: TestClient,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    service = client.app.state.service
    monkeypatch.setattr(service, "explaining", MAX_QUEUED_EXPLANATIONS)
    monkeypatch.setattr(service.explain_duration, "seconds", 7.5)  # a recent explanation took 7.5 s
    response = client.post("/explain", data={"description": DESCRIPTION})
    assert one_line(response, 503).startswith(f"busy: {MAX_QUEUED_EXPLANATIONS} explanations")
    assert response.headers["retry-after"] == str(MAX_QUEUED_EXPLANATIONS * 15 // 2)


async def asgi_post(app, path: str, body: bytes, content_type: str, hang_up: asyncio.Event) -> int:
    """POST to the ASGI app as a server does: the body, then (when ``hang_up`` is set) the client's disconnect.
    Returns the answer's status."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    statuses = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"test"), (b"content-type", content_type.encode()),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 5000), "server": ("test", 80)}
    await app(scope, receive, send)
    return statuses[0]


def test_explanations_whose_clients_hung_up_never_run_nor_hold_a_place(client: TestClient,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A client sent full /explain requests and hung up: they used to wait, run one by one and fill the queue, so
    that everyone else got a 503 for minutes."""
    service = client.app.state.service
    real, started, gate, explained = service.explain, threading.Event(), threading.Event(), []

    def slow(poster, description, *args, **kwargs):
        explained.append(description)
        started.set()
        gate.wait(30)
        return real(poster, description, *args, **kwargs)

    monkeypatch.setattr(service, "explain", slow)

    def post(description: str, hang_up: asyncio.Event) -> asyncio.Task:
        body = multipart(("description", description.encode()))
        return asyncio.ensure_future(asgi_post(client.app, "/explain", body, FORM["content-type"], hang_up))

    async def wait_for(condition, seconds: float = 10) -> bool:
        for _ in range(int(seconds * 100)):
            if condition():
                return True
            await asyncio.sleep(0.01)
        return False

    async def scenario() -> tuple:
        stays = asyncio.Event()  # never set: this client waits for its answer
        running = post(DESCRIPTION + " first", stays)
        assert await asyncio.to_thread(started.wait, 10)
        gone = asyncio.Event()
        abandoned = [post(f"{DESCRIPTION} abandoned {i}", gone) for i in range(MAX_QUEUED_EXPLANATIONS - 1)]
        assert await wait_for(lambda: service.explaining == MAX_QUEUED_EXPLANATIONS)
        gone.set()  # their clients hang up while they wait for the explanation thread
        await wait_for(lambda: service.explaining == 1, seconds=3)
        later = post(DESCRIPTION + " later", stays)
        await asyncio.sleep(0.2)
        gate.set()
        return await running, await later, await asyncio.gather(*abandoned)

    try:
        first, later, abandoned = asyncio.run(scenario())
    finally:
        gate.set()
    assert later == 200  # was a 503: "busy: 8 explanations already wait for the model"
    assert first == 200 and abandoned == [499] * (MAX_QUEUED_EXPLANATIONS - 1)
    assert explained == [DESCRIPTION + " first", DESCRIPTION + " later"]  # the abandoned ones never ran
    assert service.explaining == 0


def test_a_prediction_whose_client_hung_up_is_not_run() -> None:
    """A cancelled request's job (until_gone cancels it when the client hangs up) is dropped from its batch."""
    seen = []

    def vectors(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return np.ones((len(texts), 2), np.float32)

    batcher = text_batcher(vectors)

    async def run() -> list:
        jobs = [asyncio.ensure_future(batcher.probabilities(None, text)) for text in ("ghost", "gone", "love")]
        await asyncio.sleep(0)  # all three queued before the worker starts
        jobs[1].cancel()
        await asyncio.sleep(0)
        threading.Thread(target=batcher._work, daemon=True).start()
        return await asyncio.gather(*jobs, return_exceptions=True)

    good, gone, other = asyncio.run(run())
    assert isinstance(gone, asyncio.CancelledError)
    assert good.tolist() == other.tolist() == [1.0]
    assert seen == ["ghost", "love"]


def test_a_prediction_whose_client_hung_up_is_answered_499(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """/predict waits for the model, or for the client's hang-up: whichever comes first."""
    service = client.app.state.service
    waiting = []

    async def never(*args):
        waiting.append(args)
        await asyncio.Event().wait()

    monkeypatch.setattr(service.batcher, "probabilities", never)

    async def scenario() -> tuple[list, int]:
        gone = asyncio.Event()
        task = asyncio.ensure_future(asgi_post(client.app, "/predict", multipart(("description", b"ghost night")),
                                               FORM["content-type"], gone))
        for _ in range(500):
            if waiting or task.done():
                break
            await asyncio.sleep(0.01)
        reached = list(waiting)  # what waited for the model when the client hung up
        gone.set()
        return reached, await asyncio.wait_for(task, 10)

    reached, status = asyncio.run(scenario())
    assert reached == [(None, "ghost night", "", "")]  # the request was with the model, not answered before it
    assert status == 499
