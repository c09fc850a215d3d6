"""What the web service takes and answers: its request limits and the JSON schemas its OpenAPI docs show."""

from __future__ import annotations

from pydantic import BaseModel, Field

from moviegenre.serving.compare import SCORE

MAX_POSTER_BYTES = 8 * 1024 * 1024
MAX_REQUEST_BYTES = 24 * 1024 * 1024  # a full batch of posters in base64
MAX_DESCRIPTION_CHARS = 2000
MAX_TITLE_CHARS = 300
MAX_BATCH_ITEMS = 16
MAX_COMPARE_POSTERS = 16
# Requests waiting for a model thread, beyond which the service answers 503 (each waiting prediction holds a decoded
# poster, each waiting explanation the poster's bytes): a flood is turned away instead of growing memory.
MAX_QUEUED_PREDICTIONS = 256
MAX_QUEUED_EXPLANATIONS = 8


class Used(BaseModel):
    poster: bool
    description: bool
    title: bool = Field(False, description="Whether the model read the title (optional; never required).")


class Prediction(BaseModel):
    genres: list[str] = Field(description="Genres at or above their threshold, most probable first.")
    probabilities: dict[str, float] = Field(description="Every genre's probability, most probable first.")
    thresholds: dict[str, float] = Field(description="Every genre's decision threshold (tuned on validation).")
    used: Used = Field(description="Which inputs the model read.")
    model: str
    model_version: str = Field(description="Content hash of the model's files.")


class Word(BaseModel):
    text: str
    start: int = Field(description="Character offset in the (stripped) description.")
    end: int


class ExplainResult(Prediction):
    explained: list[str] = Field(description="The genres explained below.")
    heatmaps: dict[str, str] = Field(description="Per genre, a transparent PNG (data URL) the poster's shape: "
                                                 "lay it over the poster; hot = the region raises the genre.")
    hottest: dict[str, str] = Field(description="Per genre with a heat map, where on the poster it is hottest, in "
                                                "words ('the top left', 'the middle right', 'the centre', or two such "
                                                "places joined by 'and' where they come within 10%; '' where "
                                                "no region raises the genre, by 0.005 or more when greyed out): "
                                                "the heat map's text alternative.")
    words: list[Word]
    word_scores: dict[str, list[float]] = Field(description="Per genre, one score per word: how much deleting "
                                                            "the word lowers the genre's probability.")


class BatchItem(BaseModel):
    description: str | None = None
    title: str | None = Field(None, description="The movie's title (optional).")
    poster: str | None = Field(None, description="Base64 JPEG, PNG, WebP or GIF (a data: URL prefix is accepted).")


class BatchRequest(BaseModel):
    items: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class ItemError(BaseModel):
    status: int
    detail: str


class BatchResult(BaseModel):
    prediction: Prediction | None = None
    error: ItemError | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


POSTER_INDEX = "The 0-based position of this poster among the uploaded ``posters`` (names may repeat)."


class CompareVariant(BaseModel):
    poster: str = Field(description="The uploaded file's name.")
    poster_index: int = Field(description=POSTER_INDEX)
    description: str | None
    genres: list[str]
    probabilities: dict[str, float] = Field(description="As /predict returns for this poster and description.")
    strongest_unintended: str | None = Field(None, description="The other genre with the largest probability "
                                                               "minus threshold (with intended genres).")


class CompareError(BaseModel):
    poster: str
    poster_index: int = Field(description=POSTER_INDEX)
    status: int
    error: str


class CompareResult(BaseModel):
    variants: list[CompareVariant] = Field(description="One per usable poster, in upload order.")
    intended: list[str]
    ranking: list[int] = Field(description="Variant indices, best first (upload order without intended genres).")
    scores: list[float] | None = Field(description="Per variant (null without intended genres): " + SCORE + ".")
    thresholds: dict[str, float]
    model: str
    model_version: str
    score: str | None = Field(description="How the score is computed.")
    errors: list[CompareError] = Field(description="Posters that could not be compared, each with its error.")


class Health(BaseModel):
    status: str
    model: str
    model_version: str


class ModelInfo(BaseModel):
    name: str
    version: str
    inputs: list[str]
    genres: list[str]
    thresholds: dict[str, float]
    encoders: dict[str, str | None]
    training: dict = Field(description="From the run's run.json: data file, rows per split, genre policy.")


class ErrorBody(BaseModel):
    detail: str


ERRORS = {code: {"model": ErrorBody} for code in (400, 413, 415, 422, 503)}
