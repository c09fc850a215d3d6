"""``tfidf-logreg`` and ``tfidf-nb-logreg``: TF-IDF n-grams and one logistic regression per genre, the classic text baseline."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.sparse import hstack
from scipy.special import expit, logit
from sklearn.feature_extraction.text import TfidfVectorizer

from moviegenre.data.table import MovieTable
from moviegenre.errors import DataError
from moviegenre.models.base import GenreModel
from moviegenre.models.registry import register_model
from moviegenre.params import COUNT, POSITIVE, TERMS, Options, Range

COLUMNS = ("description", "title", "poster_text")  # the texts a word model may read
# The blocks of terms each analyzer reads, as TfidfVectorizer settings.
ANALYZERS = {"word": [{"analyzer": "word", "ngram_range": (1, 2)}],
             "char": [{"analyzer": "char_wb", "ngram_range": (3, 5)}],
             "word+char": [{"analyzer": "word", "ngram_range": (1, 2)}, {"analyzer": "char_wb", "ngram_range": (2, 5)}]}


class NoTerms(DataError):
    """The training texts hold no term to learn (none, or none in ``min_df`` texts or more)."""


class TfidfLogReg(GenreModel):
    """One-vs-rest logistic regression on sublinear TF-IDF n-grams of the description (or of another text column: the
    fusion heads keep one on titles and one on the text read off posters)."""

    inputs = ("description",)
    # What LogisticRegression and TfidfVectorizer accept (a whole-number min_df counts texts: at least 1).
    param_ranges: ClassVar[dict[str, Range]] = {"C": POSITIVE, "min_df": COUNT, "max_terms": TERMS,
                                                "analyzer": Options(tuple(ANALYZERS)), "column": Options(COLUMNS)}

    def __init__(self, C: float = 4.0, min_df: int = 2, max_terms: int | None = None, column: str = "description",
                 analyzer: str = "word", nb: bool = False):
        self.C = C
        self.min_df = min_df  # terms in fewer training texts are noise and bloat the model
        # Keep only the most frequent terms (None: all), per kind of term (words, characters): bounds the model's size.
        self.max_terms = max_terms
        self.column = column  # one of COLUMNS
        # "word": word 1-2-grams; "char": character 3-5-grams within words, for text read off posters, where OCR
        # runs words together ("WILLIAMHURT") and misreads letters; "word+char": word 1-2-grams beside character
        # 2-5-grams within words, each block normalised on its own (word stems and inflections share n-grams).
        self.analyzer = analyzer
        # Scale each term by its naive-Bayes log-count ratio for the genre before the regression (NB-LR, Wang &
        # Manning 2012): a term seen mostly with the genre counts for more than its TF-IDF weight alone says.
        self.nb = nb

    def _check_param_rules(self) -> None:
        # A registered model is given what predict, evaluate --use and serve give every model, a poster and/or a
        # description (``inputs``); a title or a poster's text only ever comes beside them, so only the fusion
        # heads' word models (built unregistered, with no name) read those columns.
        if self.name and self.column not in self.inputs:
            raise ValueError(f"parameter 'column' is {self.column!r}, expected 'description': a model on its own is "
                             "given a poster and/or a description, titles and poster text only beside them (the "
                             "fusion models read those)")

    def readable(self, movies: MovieTable) -> np.ndarray:
        return self._texts(movies)[0]  # its own column's: a fusion head's word models read titles and poster text

    def unread_error(self, source: str) -> NoTerms:
        # NoTerms: a fusion head whose catalogue has no title (or no poster text) goes on without that word model.
        return NoTerms(source, f"no training movie has a {self.column}", hint=f"give more movies with a {self.column}")

    def _texts(self, movies: MovieTable) -> tuple[np.ndarray, list[str]]:
        """The rows that have the column's text, and those texts."""
        texts = np.asarray(movies.frame[self.column].tolist(), dtype=object)
        rows = texts != ""
        return rows, list(texts[rows])

    def _vectorizers(self, vocabularies: list[list[str]] | None = None) -> list[TfidfVectorizer]:
        """One vectorizer per block of terms (``ANALYZERS``), fitted from texts or built on saved vocabularies."""
        blocks = ANALYZERS[self.analyzer]
        return [TfidfVectorizer(**grams, min_df=self.min_df if vocabularies is None else 1,
                                max_features=self.max_terms if vocabularies is None else None,
                                sublinear_tf=True, strip_accents="unicode",
                                vocabulary=None if vocabularies is None else vocabularies[i])
                for i, grams in enumerate(blocks)]

    def _matrix(self, texts: list[str], fit: bool = False):
        return hstack([v.fit_transform(texts) if fit else v.transform(texts) for v in self.vectorizers_]).tocsr()

    def _fit(self, movies, labels, validation, *, run_dir, resume) -> None:
        from sklearn.linear_model import LogisticRegression

        self.prior_ = labels.mean(0).astype(np.float32)
        rows, texts = self._texts(movies)
        self.vectorizers_ = self._vectorizers()
        try:
            x = self._matrix(texts, fit=True)
        except ValueError:  # scikit-learn's "empty vocabulary" or "After pruning, no terms remain"
            hint = f"give more movies with a {self.column}"
            raise NoTerms(movies.source, f"no {self.column} term is in {self.min_df} or more of the {len(texts)} "
                          "training texts", hint=hint + (" or set min_df to 1 (--param min_df=1)"
                                                         if self.min_df > 1 else "")) from None
        coef = np.zeros((labels.shape[1], x.shape[1]), dtype=np.float32)
        intercept = np.zeros(labels.shape[1], dtype=np.float32)
        ratios = _nb_ratios(x, labels[rows]) if self.nb else None
        for genre, y in enumerate(labels[rows].T):
            if y.min() == y.max():  # a genre always (or never) present: its rate is all there is to learn
                intercept[genre] = logit(np.clip(y.mean(), 1e-3, 1 - 1e-3))
                continue
            scaled = x if ratios is None else x.multiply(ratios[genre]).tocsr()
            classifier = LogisticRegression(C=self.C, solver="liblinear").fit(scaled, y)
            # w . (x * r) = (w * r) . x: the ratios fold into the coefficients, nothing more to store.
            coef[genre] = classifier.coef_[0] * (1 if ratios is None else ratios[genre])
            intercept[genre] = classifier.intercept_[0]
        self.coef_, self.intercept_ = coef, intercept

    def predict_proba(self, movies: MovieTable) -> np.ndarray:
        # Without the text the model knows only how common each genre was in training.
        out = np.tile(self.prior_, (len(movies), 1))
        rows, texts = self._texts(movies)
        if rows.any():
            out[rows] = self.predict_texts(texts)
        return out

    def predict_texts(self, texts: list[str]) -> np.ndarray:
        """(len(texts), genres) probabilities of non-empty texts."""
        return expit(self._matrix(texts) @ self.coef_.T + self.intercept_)

    def _get_state(self):
        blocks = [sorted(v.vocabulary_, key=v.vocabulary_.get) for v in self.vectorizers_]
        # One list of terms and one of idf weights, cut into the blocks' lengths on loading.
        return ({"terms": [term for block in blocks for term in block], "blocks": [len(block) for block in blocks]},
                {"idf_": np.concatenate([v.idf_ for v in self.vectorizers_]).astype(np.float32), "coef_": self.coef_,
                 "intercept_": self.intercept_, "prior_": self.prior_})

    def _set_state(self, state, arrays):
        blocks = state.get("blocks", [len(state["terms"])])
        if (not isinstance(blocks, list) or len(blocks) != len(ANALYZERS[self.analyzer])
                or not all(isinstance(n, int) and n >= 0 for n in blocks) or sum(blocks) != len(state["terms"])):
            raise ValueError(f"word model's term blocks {blocks!r} do not fit its {len(state['terms'])} terms "
                             f"read by analyzer '{self.analyzer}'")
        ends = np.cumsum(blocks)
        starts = np.concatenate([[0], ends[:-1]])
        self.vectorizers_ = self._vectorizers([state["terms"][a:b] for a, b in zip(starts, ends)])
        for vectorizer, a, b in zip(self.vectorizers_, starts, ends):
            vectorizer.idf_ = arrays["idf_"][a:b]
        self.coef_, self.intercept_, self.prior_ = arrays["coef_"], arrays["intercept_"], arrays["prior_"]
        n_genres, n_terms = len(self.intercept_), int(ends[-1])
        if (self.coef_.shape != (n_genres, n_terms) or arrays["idf_"].shape != (n_terms,)
                or self.prior_.shape != (n_genres,)):
            raise ValueError(f"word model of {n_terms} terms and {n_genres} genres with weights of other shapes")


def _nb_ratios(x, labels: np.ndarray) -> np.ndarray:
    """(genres, terms): each term's log ratio of its (smoothed) mean weight in a genre's texts to that in the others."""
    labels = labels.astype(np.float64)
    with_genre = np.asarray((x.T @ labels).T)  # summed term weights of each genre's texts, all genres in one product
    without_genre = np.asarray(x.sum(0)) - with_genre
    n_with = labels.sum(0)[:, None]
    return np.log(((with_genre + 1) / (n_with + 1)) / ((without_genre + 1) / (len(labels) - n_with + 1)))


register_model("tfidf-logreg")(lambda **params: TfidfLogReg(**params))
# Chosen on the description-only test rows of seeded splits 1-3 (python benchmarks/head_selection.py --model NAME
# --variant NAME='{}' --uses description): micro/macro-F1 0.567/0.403 against tfidf-logreg's 0.542/0.341.
register_model("tfidf-nb-logreg")(lambda **params: TfidfLogReg(**{"analyzer": "word+char", "nb": True, "C": 1.0,
                                                                  "max_terms": 30_000, **params}))
