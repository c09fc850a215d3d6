"""moviegenre: predict a movie's genres from its poster, its short description, or both."""

from moviegenre.data import GenreEncoder, MovieTable, load_image, read_table
from moviegenre.errors import ConfigError, DataError, ImageError, MovieGenreError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "GenreEncoder", "ImageError", "MovieGenreError", "MovieTable",
           "load_image", "read_table", "__version__"]
