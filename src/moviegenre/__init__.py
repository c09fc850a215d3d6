"""moviegenre: predict a movie's genres from its poster, its short description, or both."""

from moviegenre._lazy import lazy_attributes

__version__ = "0.1.0"

# Imported when first used: `import moviegenre` (and every command) must not pay for pandas or torch up front.
_WHERE = {
    "ConfigError": "moviegenre.errors",
    "DataError": "moviegenre.errors",
    "GenreEncoder": "moviegenre.data.genres",
    "ImageError": "moviegenre.errors",
    "MovieGenreError": "moviegenre.errors",
    "MovieTable": "moviegenre.data.table",
    "Predictor": "moviegenre.serving.predictor",
    "load_image": "moviegenre.data.images",
    "read_table": "moviegenre.data.readers",
}
__all__ = list(_WHERE) + ["__version__"]
__getattr__ = lazy_attributes(__name__, _WHERE)
