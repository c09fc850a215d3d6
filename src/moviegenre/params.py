"""What values a parameter may take: numeric intervals and string options (scikit-learn's ``Interval`` and
``StrOptions``), and the bounds shared by models, training settings, the scraper and the batch predictor. Checked
where a value comes in (a command line, a model.json, the Python API), so that a bad one fails by name, not deep
inside a fit or a crawl."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real


@dataclass(frozen=True)
class Interval:
    """The values a numeric parameter may take (scikit-learn's ``Interval``): ``low`` to ``high`` (None: no upper
    bound), each end included unless its ``*_open`` flag says otherwise; whole numbers only where ``whole``."""

    low: float
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    whole: bool = False  # a count: a parameter whose default is None says nothing of its type

    def __contains__(self, value) -> bool:
        if not isinstance(value, Integral if self.whole else Real) or isinstance(value, bool) or math.isinf(value):
            return False
        # Comparisons that must hold, so that NaN (false against everything) is in no range.
        above = value > self.low if self.low_open else value >= self.low
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.high is None:
            bound = f"more than {self.low}" if self.low_open else f"{self.low} or more"
        else:
            bound = f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        return f"a whole number {bound}" if self.whole else bound


@dataclass(frozen=True)
class Options:
    """The strings a parameter may be (scikit-learn's ``StrOptions``)."""

    values: tuple[str, ...]

    def __contains__(self, value) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return f"one of: {', '.join(self.values)}"


Range = Interval | Options
COUNT = Interval(1, whole=True)  # counts that allocate nothing (a word's minimum document count)
# Sizes, bounded far above any sensible value: beyond these a typo failed (or took the machine's memory) deep
# inside a fit, after the embedding (--param hidden=1000000000 asked for 15 TB).
WIDTH = Interval(1, 65_536, whole=True)  # a network's hidden width (fusion-gmu: 256)
MEMBERS = Interval(1, 100, whole=True)  # ensemble members, one a cross-fitting fold
TERMS = Interval(1, 10_000_000, whole=True)  # a word model's vocabulary
EPOCHS = Interval(1, 100_000, whole=True)
BATCH = Interval(1, 1_048_576, whole=True)
NON_NEGATIVE = Interval(0)
POSITIVE = Interval(0, low_open=True)  # learning rates, inverse regularisation strengths
SHARE = Interval(0, 1)  # blend weights ((1 - w) * p + w * q stays a probability) and drop probabilities
