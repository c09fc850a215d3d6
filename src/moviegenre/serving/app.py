"""The web service and page: ``create_app(run_dir)`` builds a FastAPI app around one loaded model.

Endpoints: ``POST /predict`` (multipart poster and/or description), ``POST /predict/batch`` (JSON, base64
posters), ``POST /explain`` (heat maps and word scores), ``POST /compare`` (poster variants ranked for intended
genres, serving/compare.py), ``GET /health``, ``GET /model``, the page at ``/``
and the OpenAPI docs at ``/docs``. Every client mistake is a 4xx JSON ``{"detail": "<one line>"}``:
413 too large, 415 not an image type, 422 unusable content, 400 nothing to predict from; and 503 (with
Retry-After) while the model threads are saturated. A request whose client hangs up before its answer is
cancelled (``until_gone``): its prediction or explanation, if it is still waiting for the model, never runs, and
an explanation already running stops at its next batch of model calls.

Concurrent predictions are micro-batched (serving/batcher.py): each of ``workers`` threads (default: one per core)
takes whatever requests queued while it was busy and runs them as one encoder batch. Request limits and response
schemas are in serving/schemas.py. On a small CPU, one torch thread per worker
beats intra-op threads: ``moviegenre serve`` sets that (see ``cli/serve.py``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from moviegenre.data.genres import resolve_genres
from moviegenre.data.images import sniff_format
from moviegenre.data.readers import read_json
from moviegenre.data.table import clean_description
from moviegenre.errors import DataError, MovieGenreError, first_line, utf8_text
from moviegenre.features.poster_text import reading_threads
from moviegenre.serving.batcher import Batcher, RecentDuration
from moviegenre.serving.compare import comparison
from moviegenre.serving.explain import Explainer, ExplanationStopped, Scorer, png_bytes
from moviegenre.serving.form_text import FormTextCheck
from moviegenre.serving.predictor import Predictor
from moviegenre.serving.schemas import (
    ERRORS,
    MAX_BATCH_ITEMS,
    MAX_COMPARE_POSTERS,
    MAX_DESCRIPTION_CHARS,
    MAX_POSTER_BYTES,
    MAX_QUEUED_EXPLANATIONS,
    MAX_QUEUED_PREDICTIONS,
    MAX_REQUEST_BYTES,
    MAX_TITLE_CHARS,
    BatchItem,
    BatchRequest,
    BatchResponse,
    BatchResult,
    CompareResult,
    ExplainResult,
    Health,
    ItemError,
    ModelInfo,
    Prediction,
    Word,
)
from moviegenre.serving.transport import BodyLimit, SecurityHeaders, security_headers

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
STATIC = files("moviegenre") / "serving" / "static"


T = TypeVar("T")


class ClientError(HTTPException):
    """A 4xx (or 503) answer with a one-line ``detail``."""


class Busy(ClientError):
    """The 503 of a saturated service: no fault of the request (nor of one poster or batch item in it)."""


def busy(what: str, retry_after: int) -> Busy:
    return Busy(503, f"busy: {what} already wait for the model; retry shortly",
                headers={"Retry-After": str(retry_after)})


CLIENT_GONE = 499  # nginx's "client closed request": logged, never read (the client is gone)


async def until_gone(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result, unless the client hangs up first: then ``work`` is cancelled (a prediction or explanation
    still waiting for the model is dropped; a running explanation stops at its next batch, a running prediction
    batch finishes unread) and the answer is a 499 nobody reads. Uvicorn does not cancel a handler whose client is
    gone: without this, abandoned requests would hold the places in the bounded queues that others need."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_hung_up(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and watcher.exception() is not None:  # no telling whether the client is gone: go on
            await asyncio.wait((task,))
    finally:  # also when this handler itself is cancelled
        watcher.cancel()
        if not task.done():
            task.cancel()
            task.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved, not logged twice
    if task.done() and not task.cancelled():
        return task.result()
    raise ClientError(CLIENT_GONE, "client closed the request")


async def _hung_up(request: Request) -> None:
    """Returns when the client disconnects: with the body read, what is left to receive is the disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def all_or_none(*work: Awaitable[T]) -> list[T]:
    """``asyncio.gather``, but the first error cancels the others: their answer will not be sent."""
    tasks = [asyncio.ensure_future(one) for one in work]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


# -- the model behind the endpoints --------------------------------------------------------------------------
def training_info(run_dir: Path) -> dict:
    """What the run's run.json says of its training, for /model; read once, so a damaged file is one line at start."""
    path = run_dir / "run.json"
    run = read_json(path) if path.exists() else {}
    if not isinstance(run, dict):
        raise DataError(path, "expected a JSON object", hint="restore the run's run.json or remove it")
    training = {key: run[key] for key in ("rows", "min_genre_count", "drop_genres", "seed", "train_seconds")
                if key in run}
    if isinstance(run.get("data"), str):
        training["data"] = Path(run["data"]).name  # not the server's folders
    return training


class Service:
    """The loaded model, its batcher and explainer, and the request checks shared by the endpoints."""

    def __init__(self, run_dir: str | Path | None, workers: int) -> None:
        self.predictor = Predictor(run_dir)
        self.scorer = Scorer(self.predictor)
        self.explainer = Explainer(self.scorer)
        self.batcher = Batcher(self.scorer, workers, max_queue=MAX_QUEUED_PREDICTIONS)
        self.version = self.predictor.version
        self.training = training_info(self.predictor.run_dir)
        # One explanation at a time (each is ~64 occluded posters and up to 48 shortened descriptions); the others
        # wait in this pool's queue (at most MAX_QUEUED_EXPLANATIONS), not in the request thread pool that /predict
        # needs for decoding.
        self.explain_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moviegenre-explain")
        # Explanations running or waiting in explain_pool: counted down as each one ends, or as a waiting one is
        # dropped (its client hung up), on whichever thread that happens.
        self.explaining = 0
        self.explain_count_lock = threading.Lock()
        self.explain_duration = RecentDuration(2.0)

    def info(self) -> ModelInfo:
        model, predictor = self.predictor.model, self.predictor
        return ModelInfo(name=predictor.model_name, version=self.version, inputs=list(model.inputs),
                         genres=predictor.genres,
                         thresholds={g: round(float(t), 4) for g, t in zip(predictor.genres, predictor.thresholds)},
                         encoders={"image": self.scorer.image.name if self.scorer.image else None,
                                   "text": self.scorer.text.name if self.scorer.text else None},
                         training=self.training)

    def check(self, poster: bytes | None, description: str | None, where: str = "",
              title: str | None = None) -> tuple[dict, str, str]:
        """The inputs the model will read and the cleaned description and title; ClientError otherwise."""
        description, title = texts(description, title, where)
        if poster is not None and len(poster) > MAX_POSTER_BYTES:
            raise ClientError(413, f"{where}poster: over the {MAX_POSTER_BYTES:,} byte limit "
                                   "(downscale or recompress it)")
        if poster is not None and poster and sniff_format(poster) is None:  # the safe loader's formats only
            raise ClientError(415, f"{where}poster: not a JPEG, PNG, WebP or GIF image")
        try:
            used = self.scorer.used(poster is not None, bool(description), bool(title))
            return used, description, title if used["title"] else ""
        except MovieGenreError as error:
            raise ClientError(400, f"{where}{error}") from None

    async def predict(self, poster: bytes | None, description: str | None, where: str = "",
                      title: str | None = None) -> Prediction:
        used, description, title = self.check(poster, description, where, title)
        tensor, poster_text = None, ""
        if used["poster"]:
            try:
                image, tensor = await run_in_threadpool(self.scorer.decode, poster, f"{where}poster")
            except MovieGenreError as error:
                raise ClientError(422, str(error)) from None
            if not used["description"]:  # poster text is read only where the poster is the only input
                # OCR keeps an engine per thread: its own threads, not the request pool's 40.
                poster_text = await asyncio.get_running_loop().run_in_executor(reading_threads(),
                                                                               self.scorer.poster_text, image)
        try:
            probabilities = await self.batcher.probabilities(tensor, description if used["description"] else "",
                                                             title, poster_text)
        except queue.Full:
            raise busy(f"{MAX_QUEUED_PREDICTIONS} predictions", self.batcher.wait_seconds()) from None
        return Prediction(**self.scorer.result(probabilities, used), model_version=self.version)

    async def explain_later(self, poster: bytes | None, description: str | None, top: int,
                            genres: list[str] | None = None, title: str | None = None) -> ExplainResult:
        """``explain`` on the explanation thread, or 503 when MAX_QUEUED_EXPLANATIONS are running or waiting; the
        request's own mistakes are answered first, not after the explanations ahead of it."""
        used, description, title = self.check(poster, description, title=title)
        try:
            genres = resolve_genres(genres or [], self.predictor.genres, where="genre")
        except MovieGenreError as error:
            raise ClientError(422, str(error)) from None
        with self.explain_count_lock:
            ahead = self.explaining
            if ahead >= MAX_QUEUED_EXPLANATIONS:
                # Retry-After: about how long the explanations ahead take, one after the other.
                raise busy(f"{MAX_QUEUED_EXPLANATIONS} explanations", self.explain_duration.retry_after(ahead))
            self.explaining += 1
        stop = threading.Event()
        job = self.explain_pool.submit(self.timed_explain, stop, poster if used["poster"] else None,
                                       description if used["description"] else None, top, genres, title)
        job.add_done_callback(self._explained)  # when it ends, or when it is dropped before it started
        try:
            # Cancelling this await (the client hung up: until_gone) cancels the job if it has not started yet.
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            # If it has, it stops at its next model call: the explanations queued behind it need those seconds.
            stop.set()
            raise

    def _explained(self, _: Future) -> None:
        with self.explain_count_lock:
            self.explaining -= 1

    def timed_explain(self, stop: threading.Event, *args) -> ExplainResult | None:
        """``explain``, timed: the moving average of its durations sets /explain's Retry-After; None once ``stop``
        is set (its client hung up and nobody reads the answer)."""
        started = time.monotonic()
        try:
            return self.explain(*args, stop=stop.is_set)
        except ExplanationStopped:
            return None
        finally:
            if not stop.is_set():  # a cut-short duration would understate the next Retry-After
                self.explain_duration.add(time.monotonic() - started)

    def explain(self, poster: bytes | None, description: str | None, top: int, genres: list[str],
                title: str, stop: Callable[[], bool] | None = None) -> ExplainResult:
        """The explanation of checked inputs (``explain_later`` checks them); ExplanationStopped once ``stop()``."""
        try:
            explanation = self.explainer.explain(poster, description, top=top, genres=genres, title=title,
                                                 stop=stop)
        except MovieGenreError as error:
            raise ClientError(422, str(error)) from None
        heatmaps = {g: "data:image/png;base64," + base64.b64encode(png_bytes(explanation.heat_layer(g))).decode()
                    for g in explanation.heat}
        return ExplainResult(**explanation.prediction, model_version=self.version, explained=explanation.genres,
                             heatmaps=heatmaps, hottest={g: explanation.hottest(g) for g in explanation.heat},
                             words=[Word(text=w, start=s, end=e) for w, s, e in explanation.words],
                             word_scores={g: [round(float(v), 4) for v in s]
                                          for g, s in explanation.word_scores.items()})


def texts(description: str | None, title: str | None, where: str = "") -> tuple[str, str]:
    """The cleaned description and title, as ``Predictor.predict`` reads them; 422 naming the field for text that
    is not UTF-8 (a lone surrogate from JSON would fail in the tokenizer, a 500) or is over its limit."""
    try:
        description = clean_description(utf8_text(description, f"{where}description"))
        title = utf8_text(title, f"{where}title")
    except MovieGenreError as error:
        raise ClientError(422, str(error)) from None
    if len(title) > MAX_TITLE_CHARS:
        raise ClientError(422, f"{where}title: {len(title):,} characters, over the {MAX_TITLE_CHARS} limit")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ClientError(422, f"{where}description: {len(description):,} characters, over the "
                               f"{MAX_DESCRIPTION_CHARS:,} limit (shorten it)")
    return description, title


async def _read_poster(poster: UploadFile | None) -> bytes | None:
    if poster is None:
        return None
    declared = _media_type(poster.content_type or "application/octet-stream")
    if declared not in (*IMAGE_TYPES, "application/octet-stream"):
        kind = "is not one this service reads" if declared.startswith("image/") else "is not an image"
        raise ClientError(415, f"poster: content type '{declared}' {kind} (send JPEG, PNG, WebP or GIF)")
    data = await poster.read(MAX_POSTER_BYTES + 1)
    if not data:
        raise ClientError(422, "poster: empty file (give a JPEG, PNG, WebP or GIF poster)")
    return data


def form_body(*once: str, fields: str = "a 'poster' file and/or a 'description' field"):
    """A route dependency: 415 unless the body is a form (of ``fields``, as its message says); 422 for a field that
    is not text in the form's charset, or when a field in ``once`` is repeated (only the last would be read).
    Dependencies run before FastAPI checks the fields, so a body of the wrong kind is told so, not that a field is
    missing."""
    async def check(request: Request) -> None:
        kind = _media_type(request.headers.get("content-type", ""))
        if kind not in FORM_TYPES:
            raise ClientError(415, f"content type '{kind or 'none'}': send multipart/form-data with {fields}")
        form = await request.form()  # already parsed for the endpoint's parameters: cached, not read again
        problem = getattr(request.state, "form_text_error", None)  # left by FormTextCheck as the body streamed in
        if problem:
            raise ClientError(422, problem)
        for name in once:
            if len(form.getlist(name)) > 1:
                raise ClientError(422, f"{name}: given {len(form.getlist(name))} times (send it once)")

    return Depends(check)


async def json_body(request: Request) -> None:
    """A route dependency: 415 unless the body is JSON."""
    kind = _media_type(request.headers.get("content-type", ""))
    if kind != "application/json":
        raise ClientError(415, f"content type '{kind or 'none'}': send application/json")


def _media_type(content_type: str) -> str:
    """``image/png`` of ``Image/PNG; charset=x``: the type without its parameters, as the service compares it."""
    return content_type.split(";")[0].strip().lower()


def _one_line(error: RequestValidationError) -> str:
    first = error.errors()[0]
    if first.get("type") == "json_invalid":  # its location is a character offset, not a field
        return (f"request body: not valid JSON ({first.get('ctx', {}).get('error', 'decode error')} at character "
                f"{first['loc'][-1]}) (send a JSON object)")
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "request"
    message = first.get("msg", "invalid")
    if "Expected UploadFile" in message:
        message = "a text field, not a file (send the image as a file part of a multipart/form-data body)"
    return f"{where}: {message}" + (f" ({len(error.errors()) - 1} more)" if len(error.errors()) > 1 else "")


def _said_plainly(error: StarletteHTTPException) -> tuple[int, str]:
    """The status and one line for an HTTP error; the frameworks' own 400s for a body they could not parse (a form
    field over Starlette's 1 MiB, 1,000 fields, a broken multipart body; JSON that is not UTF-8, nested too deep,
    with a 5,000-digit number) say what was wrong and what to do, as the service's own errors do."""
    if isinstance(error.__context__, MultiPartException):
        detail = str(error.detail).rstrip(".")
        status = 413 if "maximum" in detail.lower() else 400  # a size or a count over its limit
        return status, f"form: {detail} (send the poster as a file part and each text field once, briefly)"
    if error.status_code == 400 and str(error.detail) == "There was an error parsing the body":
        cause = error.__cause__
        if isinstance(cause, UnicodeDecodeError):
            return 422, f"request body: not UTF-8 (byte {cause.start + 1}) (send JSON in UTF-8)"
        if isinstance(cause, RecursionError):
            return 422, "request body: JSON nested too deep (send the batch's items as flat objects)"
        return 422, f"request body: JSON this service cannot read ({first_line(cause or error)}) (send a JSON object)"
    return error.status_code, str(error.detail)


# -- the app -------------------------------------------------------------------------------------------------
def create_app(run_dir: str | Path | None = None, workers: int | None = None) -> FastAPI:
    """The service for the model in ``run_dir`` (default: the packaged model), loaded now, once."""
    service = Service(run_dir, workers or os.cpu_count() or 1)

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the installed package, not from a CDN.
    app = FastAPIOffline(title="moviegenre", summary="Movie genres from a poster and/or a description, and why.",
                         version=service.version)
    app.state.service = service
    app.add_middleware(FormTextCheck)
    app.add_middleware(BodyLimit, limit=MAX_REQUEST_BYTES)
    app.add_middleware(SecurityHeaders)  # the outermost: the body limit's own answers get the headers too

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        status, detail = _said_plainly(error)
        return JSONResponse({"detail": detail}, status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(error)}, 422)

    # Starlette answers an error no handler took outside every middleware, SecurityHeaders included, so this answer
    # carries the headers itself; the error still reaches the log, traceback and all.
    @app.exception_handler(Exception)
    async def failed(request: Request, _: Exception) -> JSONResponse:
        headers = {name.decode(): value.decode() for name, value in security_headers(request.url.path)}
        return JSONResponse({"detail": "internal error (the service's log has the details)"}, 500, headers=headers)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok", model=service.predictor.model_name, model_version=service.version)

    @app.get("/model", response_model=ModelInfo)
    async def model() -> ModelInfo:
        return service.info()

    @app.post("/predict", response_model=Prediction, responses=ERRORS,
              dependencies=[form_body("poster", "description", "title")])
    async def predict(request: Request,
                      poster: Annotated[UploadFile | None, File(description="JPEG, PNG, WebP or GIF poster.")] = None,
                      description: Annotated[str | None, Form(description="The movie's short description.")] = None,
                      title: Annotated[str | None, Form(description="The movie's title (optional).")] = None
                      ) -> Prediction:
        """Genres for a poster and/or a description (and, optionally, the title beside them)."""
        return await until_gone(request, service.predict(await _read_poster(poster), description, title=title))

    @app.post("/predict/batch", response_model=BatchResponse, responses=ERRORS, dependencies=[Depends(json_body)],
              description=f"Up to {MAX_BATCH_ITEMS} movies at once; a bad item gets its own error and the others "
                          "still get predictions.")
    async def predict_batch(request: Request, batch: BatchRequest) -> BatchResponse:
        async def one(index: int, item: BatchItem) -> BatchResult:
            where = f"items[{index}]."
            try:
                poster = _base64(item.poster, where) if item.poster is not None else None
                return BatchResult(prediction=await service.predict(poster, item.description, where, item.title))
            except Busy as error:  # named as the item's other errors are
                return BatchResult(error=ItemError(status=error.status_code, detail=f"{where}{error.detail}"))
            except ClientError as error:
                return BatchResult(error=ItemError(status=error.status_code, detail=error.detail))

        results = await until_gone(request, asyncio.gather(*(one(i, item) for i, item in enumerate(batch.items))))
        if all(result.error is not None and result.error.status == 503 for result in results):
            # The whole batch: a 503 with Retry-After.
            raise busy(f"{MAX_QUEUED_PREDICTIONS} predictions", service.batcher.wait_seconds())
        return BatchResponse(results=results)

    @app.post("/explain", response_model=ExplainResult, responses=ERRORS,
              dependencies=[form_body("poster", "description", "top", "title")])
    async def explain(request: Request,
                      poster: Annotated[UploadFile | None, File(description="JPEG, PNG, WebP or GIF poster.")] = None,
                      description: Annotated[str | None, Form(description="The movie's short description.")] = None,
                      top: Annotated[int, Form(ge=1, le=50, description="Explain this many most probable genres.")]
                      = 3,
                      genre: Annotated[list[str] | None, Form(description="Explain these genres instead (repeat the "
                                                                          "field for several).")] = None,
                      title: Annotated[str | None, Form(description="The movie's title (optional).")] = None
                      ) -> ExplainResult:
        """Heat maps over the poster and word scores in the description for the most probable genres."""
        return await until_gone(request, service.explain_later(await _read_poster(poster), description, top, genre,
                                                               title))

    @app.post("/compare", response_model=CompareResult, responses=ERRORS,
              dependencies=[form_body("description", "title", fields="a 'posters' file for each variant")])
    async def compare(request: Request,
                      posters: Annotated[list[UploadFile], File(description=f"Poster variants (JPEG, PNG, WebP or GIF; "
                                                                            f"up to {MAX_COMPARE_POSTERS}).")],
                      description: Annotated[str | None, Form(description="The movie's short description.")] = None,
                      genre: Annotated[list[str] | None, Form(description="An intended genre (repeat the field "
                                                                          "for several).")] = None,
                      title: Annotated[str | None, Form(description="The movie's title (optional; read with every "
                                                                    "poster, as /predict reads it).")] = None
                      ) -> CompareResult:
        """Poster variants side by side, ranked for the intended genres; a bad poster is listed in ``errors``
        and the others are still compared. Each variant and error gives its ``poster_index``: the position of
        its file among the uploaded ``posters``."""
        if len(posters) > MAX_COMPARE_POSTERS:
            raise ClientError(413, f"posters: {len(posters)} files, over the {MAX_COMPARE_POSTERS} limit "
                                   "(compare fewer at once)")
        try:
            intended = resolve_genres(genre or [], service.predictor.genres, where="genre")
        except MovieGenreError as error:
            raise ClientError(422, str(error)) from None
        # Checked once, as `moviegenre compare` does, not as every poster's error.
        read, _ = texts(description, title)

        async def one(upload: UploadFile) -> Prediction | ClientError:
            try:
                return await service.predict(await _read_poster(upload), description, title=title)
            except Busy:  # the service's state, not this poster's fault: the whole comparison is a 503
                raise
            except ClientError as error:  # this poster's own error; the others are still compared
                return ClientError(error.status_code, f"{_name(upload)}: {error.detail}")

        outcomes = await until_gone(request, all_or_none(*(one(upload) for upload in posters)))
        scored = [(_name(upload), read or None, outcome.model_dump(), index)
                  for index, (upload, outcome) in enumerate(zip(posters, outcomes)) if isinstance(outcome, Prediction)]
        failed = [(index, _name(upload), outcome) for index, (upload, outcome) in enumerate(zip(posters, outcomes))
                  if isinstance(outcome, ClientError)]
        if not scored:
            raise failed[0][2]
        result = comparison(scored, intended, [{"poster": name, "poster_index": index, "status": error.status_code,
                                                "error": error.detail} for index, name, error in failed])
        return CompareResult(**result, model_version=service.version)

    return app


def _name(upload: UploadFile) -> str:
    return (upload.filename or "poster")[:200]


def _base64(text: str, where: str) -> bytes:
    payload = text.split(",", 1)[-1] if text.startswith("data:") else text  # no comma: all of it, not valid base64
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError(422, f"{where}poster: not valid base64") from None
