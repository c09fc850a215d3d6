"""moviegenre: predict a movie's genres from its poster, its short description, or both."""

from moviegenre.data import GenreEncoder, MovieTable, load_image, read_table
from moviegenre.errors import ConfigError, DataError, ImageError, MovieGenreError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "GenreEncoder",
    "ImageError",
    "MovieGenreError",
    "MovieTable",
    "Predictor",
    "__version__",
    "load_image",
    "read_table",
]


def __getattr__(name: str):
    # Predictor pulls in torch and the encoders: import it only when asked for.
    if name == "Predictor":
        from moviegenre.serving.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'moviegenre' has no attribute '{name}'")
