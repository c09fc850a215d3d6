"""Features: pretrained encoders (by name) and the on-disk embedding cache."""

from moviegenre.features.cache import FeatureCache, embed_posters, embed_texts
from moviegenre.features.encoders import IMAGE_ENCODERS, TEXT_ENCODERS, image_encoder, text_encoder

__all__ = [
           "IMAGE_ENCODERS",
           "TEXT_ENCODERS",
           "FeatureCache",
           "embed_posters",
           "embed_texts",
           "image_encoder",
           "text_encoder",
]
