"""Data layer: the movie table, its readers, the genre policy, splits and the safe image loader."""

from moviegenre.data.genres import DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT, GenreEncoder
from moviegenre.data.images import load_image
from moviegenre.data.readers import read_table
from moviegenre.data.splits import load_split, save_split, split_for, split_proportions, stratified_split
from moviegenre.data.table import MovieTable

__all__ = [
    "DEFAULT_DROP_GENRES", "DEFAULT_MIN_GENRE_COUNT", "GenreEncoder", "MovieTable", "load_image", "load_split",
    "read_table", "save_split", "split_for", "split_proportions", "stratified_split",
]
