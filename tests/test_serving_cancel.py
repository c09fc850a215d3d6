"""An explanation whose client hung up stops at its next batch of model calls instead of running to its end
(seconds of CPU that the explanations queued behind it wait for)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import draw_poster
from moviegenre.serving.app import create_app
from moviegenre.serving.explain import MAX_WORD_GROUPS, Explainer, ExplanationStopped
from test_explain import BrightCornerScorer, bright_corner_poster
from test_serving import DESCRIPTION, build_tiny_run, one_torch_thread  # noqa: F401  (autouse)
from test_serving_hostile import asgi_post


class CountingScorer(BrightCornerScorer):
    """The stand-in model, counting its encoder calls; ``stop_after`` calls in, the stop signal turns true."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.calls, self.stop_after = [], stop_after

    def poster_vectors(self, batch):
        self.calls.append(("poster", len(batch)))
        return super().poster_vectors(batch)

    def description_vectors(self, texts):
        self.calls.append(("description", len(texts)))
        return super().description_vectors(texts)

    def stop(self) -> bool:
        return self.stop_after is not None and len(self.calls) >= self.stop_after


LONG = " ".join(["night"] * (MAX_WORD_GROUPS - 1) + ["ghost"])  # 48 deleted words: 3 calls of 16


def test_an_explanation_stops_at_its_next_model_call_once_asked() -> None:
    whole = CountingScorer()
    expected = Explainer(whole).explain(bright_corner_poster(), LONG, genres=["Horror"], stop=whole.stop)
    # The prediction, captum's unoccluded pass, the 49 occlusions of a 224-pixel input in 4 calls, the 48 words in 3.
    assert whole.calls == [("poster", 1), ("description", 1), ("poster", 1), *[("poster", 16)] * 3, ("poster", 1),
                           *[("description", 16)] * 3]
    unasked = Explainer(BrightCornerScorer()).explain(bright_corner_poster(), LONG, genres=["Horror"])
    np.testing.assert_array_equal(expected.heat["Horror"], unasked.heat["Horror"])
    np.testing.assert_array_equal(expected.word_scores["Horror"], unasked.word_scores["Horror"])

    for stop_after in (4, len(whole.calls) - 2):  # among the occlusions; among the words
        scorer = CountingScorer(stop_after)
        with pytest.raises(ExplanationStopped):
            Explainer(scorer).explain(bright_corner_poster(), LONG, genres=["Horror"], stop=scorer.stop)
        assert len(scorer.calls) == stop_after  # not one model call after the signal


def test_a_stop_event_set_before_the_occlusions_stops_them_all() -> None:
    scorer, stop = CountingScorer(), threading.Event()
    stop.set()
    with pytest.raises(ExplanationStopped):
        Explainer(scorer).explain(bright_corner_poster(), genres=["Horror"], stop=stop.is_set)
    assert scorer.calls == [("poster", 1)]  # the prediction only


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    run = build_tiny_run(tmp_path_factory.getbasetemp() / "tiny-serving-run")
    with TestClient(create_app(run, workers=2)) as test_client:
        yield test_client


def test_a_running_explanation_whose_client_hung_up_stops(client: TestClient, tmp_path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The client hangs up while its explanation is in the model: the explanation makes no further model call, and
    the next one is served as usual."""
    service = client.app.state.service
    poster = draw_poster(tmp_path / "p.png", seed=3, size=(120, 180)).read_bytes()
    real_vectors, real_timed = service.scorer.poster_vectors, service.timed_explain
    calls, stops, in_model, gate = [], [], threading.Event(), threading.Event()

    def held_vectors(batch):
        calls.append(len(batch))
        if len(calls) == 1:  # the explanation's first model call: held until its client has hung up
            in_model.set()
            gate.wait(10)
        return real_vectors(batch)

    def timed(stop, *args):
        stops.append(stop)
        return real_timed(stop, *args)

    monkeypatch.setattr(service.scorer, "poster_vectors", held_vectors)
    monkeypatch.setattr(service, "timed_explain", timed)
    seconds = service.explain_duration.seconds

    async def scenario() -> int:
        gone = asyncio.Event()
        body = (b'--x\r\nContent-Disposition: form-data; name="description"\r\n\r\n%s\r\n'
                b'--x\r\nContent-Disposition: form-data; name="poster"; filename="p.png"\r\n'
                b"Content-Type: image/png\r\n\r\n%s\r\n--x--\r\n") % (DESCRIPTION.encode(), poster)
        task = asyncio.ensure_future(asgi_post(client.app, "/explain", body, "multipart/form-data; boundary=x", gone))
        assert await asyncio.to_thread(in_model.wait, 10)
        gone.set()
        status = await asyncio.wait_for(task, 10)
        for _ in range(1000):  # the cancelled request sets its job's stop signal as it unwinds
            if stops[0].is_set():
                break
            await asyncio.sleep(0.01)
        return status

    try:
        status = asyncio.run(scenario())
    finally:
        gate.set()
    assert status == 499 and stops[0].is_set()
    for _ in range(1000):
        if service.explaining == 0:
            break
        time.sleep(0.01)
    assert service.explaining == 0
    assert calls == [1]  # not one of the occlusions' calls that used to follow
    assert service.explain_duration.seconds == seconds  # a cut-short explanation does not shorten Retry-After
    monkeypatch.undo()
    assert client.post("/explain", data={"description": DESCRIPTION}).status_code == 200
