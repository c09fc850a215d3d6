"""Micro-batching for the web service: requests that queue while a worker is busy run through the model together."""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from moviegenre.serving.explain import Scorer


@dataclass
class _Job:
    tensor: torch.Tensor | None
    description: str
    title: str
    poster_text: str
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class RecentDuration:
    """How long one piece of work (a batch, an explanation) took lately, a moving average: how long a turned-away
    request should wait before it asks again (Retry-After)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds  # the first estimate, until work has been timed

    def add(self, seconds: float) -> None:
        self.seconds = 0.7 * self.seconds + 0.3 * seconds

    def retry_after(self, pieces: int) -> int:
        """Whole seconds (at least 1) for ``pieces`` of work one after the other."""
        return max(1, math.ceil(pieces * self.seconds))


class Batcher:
    """Worker threads that each run whatever requests are queued through the model as one batch."""

    def __init__(self, scorer: Scorer, workers: int = 1, max_batch: int = 8, max_queue: int = 0) -> None:
        self.scorer, self.max_batch, self.workers = scorer, max_batch, workers
        self.jobs: queue.Queue[_Job] = queue.Queue(max_queue)  # 0: unbounded
        self.batch_duration = RecentDuration(0.5)
        # Daemon threads started here rather than in the app's lifespan: test clients and fuzzers run the
        # lifespan several times, and an idle worker costs nothing but a blocked queue read.
        for i in range(workers):
            threading.Thread(target=self._work, name=f"moviegenre-batcher-{i}", daemon=True).start()

    async def probabilities(self, tensor: torch.Tensor | None, description: str, title: str = "",
                            poster_text: str = "") -> np.ndarray:
        loop = asyncio.get_running_loop()
        job = _Job(tensor, description, title, poster_text, loop.create_future(), loop)
        self.jobs.put_nowait(job)  # queue.Full when max_queue jobs wait: the caller turns the request away
        return await job.future

    def wait_seconds(self) -> int:
        """About how long the queued jobs take, batch after batch on every worker: a turned-away request's
        Retry-After (whole seconds, at least 1)."""
        return self.batch_duration.retry_after(math.ceil(self.jobs.qsize() / (self.max_batch * self.workers)))

    def _work(self) -> None:
        while True:
            # No waiting for company: whatever queued during the last batch forms the next one.
            batch = [self.jobs.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            # A job whose request was cancelled (its client hung up) while it waited is dropped, not run.
            batch = [job for job in batch if not job.future.cancelled()]
            if not batch:
                continue
            started = time.monotonic()
            try:
                outcomes = [(row, None) for row in self._run(batch)]
                self.batch_duration.add(time.monotonic() - started)
            except Exception as error:  # noqa: BLE001 - the waiting request fails with it (a 500, logged)
                # One request the model cannot run must not fail the others batched with it: each runs alone.
                outcomes = [self._alone(job) for job in batch] if len(batch) > 1 else [(None, error)]
            for job, (row, error) in zip(batch, outcomes):
                job.loop.call_soon_threadsafe(_resolve, job.future, row, error)

    def _alone(self, job: _Job) -> tuple[np.ndarray | None, Exception | None]:
        try:
            return self._run([job])[0], None
        except Exception as error:  # noqa: BLE001 - this request fails with it (a 500, logged)
            return None, error

    def _run(self, batch: list[_Job]) -> np.ndarray:
        scorer, n = self.scorer, len(batch)
        poster = description = None
        with_poster = [i for i, job in enumerate(batch) if job.tensor is not None]
        with_text = [i for i, job in enumerate(batch) if job.description]
        if with_poster:
            poster = np.zeros((n, scorer.model.dims_["poster"]), np.float32)
            poster[with_poster] = scorer.poster_vectors(torch.stack([batch[i].tensor for i in with_poster]))
        if with_text:
            description = np.zeros((n, scorer.model.dims_["description"]), np.float32)
            description[with_text] = scorer.description_vectors([batch[i].description for i in with_text])
        return scorer.probabilities(poster, description, [job.description for job in batch],
                                    [job.title for job in batch], [job.poster_text for job in batch])


def _resolve(future: asyncio.Future, value, error: Exception | None) -> None:
    if future.cancelled():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
