"""``tfidf-logreg``: TF-IDF word 1-2-grams and one logistic regression per genre, the classic text baseline."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit
from sklearn.feature_extraction.text import TfidfVectorizer

from moviegenre.data.table import MovieTable
from moviegenre.errors import ConfigError
from moviegenre.models.base import GenreModel
from moviegenre.models.registry import register_model


class TfidfLogReg(GenreModel):
    """One-vs-rest logistic regression on sublinear TF-IDF of word unigrams and bigrams of the description
    (or of another text column: the fusion heads keep one on titles)."""

    inputs = ("description",)

    def __init__(self, C: float = 4.0, min_df: int = 2, max_terms: int | None = None, column: str = "description",
                 analyzer: str = "word"):
        self.C = C
        self.min_df = min_df  # terms in fewer training texts are noise and bloat the model
        self.max_terms = max_terms  # keep only the most frequent terms (None: all): bounds the model's size
        self.column = column  # "description", "title" or "poster_text"
        # "word": word 1-2-grams; "char": character 3-5-grams within words, for text read off posters, where OCR
        # runs words together ("WILLIAMHURT") and misreads letters.
        self.analyzer = analyzer

    def _texts(self, movies: MovieTable) -> tuple[np.ndarray, list[str]]:
        """The rows that have the column's text, and those texts."""
        texts = np.asarray(movies.frame[self.column].tolist(), dtype=object)
        rows = texts != ""
        return rows, list(texts[rows])

    def _vectorizer(self, vocabulary: list[str] | None = None) -> TfidfVectorizer:
        if self.analyzer not in ("word", "char"):
            raise ConfigError(f"unknown analyzer '{self.analyzer}' (known: word, char)")
        grams = {"analyzer": "word", "ngram_range": (1, 2)} if self.analyzer == "word" \
            else {"analyzer": "char_wb", "ngram_range": (3, 5)}
        return TfidfVectorizer(**grams, min_df=self.min_df if vocabulary is None else 1,
                               max_features=self.max_terms if vocabulary is None else None,
                               sublinear_tf=True, strip_accents="unicode", vocabulary=vocabulary)

    def _fit(self, movies, labels, validation, *, run_dir, resume) -> None:
        from sklearn.linear_model import LogisticRegression

        self.prior_ = labels.mean(0).astype(np.float32)
        rows, texts = self._texts(movies)
        self.vectorizer_ = self._vectorizer()
        x = self.vectorizer_.fit_transform(texts)
        coef = np.zeros((labels.shape[1], x.shape[1]), dtype=np.float32)
        intercept = np.zeros(labels.shape[1], dtype=np.float32)
        for genre, y in enumerate(labels[rows].T):
            if y.min() == y.max():  # a genre always (or never) present: its rate is all there is to learn
                intercept[genre] = logit(np.clip(y.mean(), 1e-3, 1 - 1e-3))
                continue
            classifier = LogisticRegression(C=self.C, solver="liblinear").fit(x, y)
            coef[genre], intercept[genre] = classifier.coef_[0], classifier.intercept_[0]
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
        return expit(self.vectorizer_.transform(texts) @ self.coef_.T + self.intercept_)

    def _get_state(self):
        terms = sorted(self.vectorizer_.vocabulary_, key=self.vectorizer_.vocabulary_.get)
        return {"terms": terms}, {"idf_": self.vectorizer_.idf_.astype(np.float32), "coef_": self.coef_,
                                  "intercept_": self.intercept_, "prior_": self.prior_}

    def _set_state(self, state, arrays):
        self.vectorizer_ = self._vectorizer(state["terms"])
        self.vectorizer_.idf_ = arrays["idf_"]
        self.coef_, self.intercept_, self.prior_ = arrays["coef_"], arrays["intercept_"], arrays["prior_"]


register_model("tfidf-logreg")(lambda **params: TfidfLogReg(**params))
