"""Features: pretrained encoders (by name) and the on-disk embedding cache."""

from moviegenre._lazy import lazy_attributes

# The encoders import torch: only when asked for (the cache's location alone must not cost that).
_WHERE = {
    "FeatureCache": "moviegenre.features.cache",
    "IMAGE_ENCODERS": "moviegenre.features.encoders",
    "TEXT_ENCODERS": "moviegenre.features.encoders",
    "embed_posters": "moviegenre.features.cache",
    "embed_texts": "moviegenre.features.cache",
    "image_encoder": "moviegenre.features.encoders",
    "text_encoder": "moviegenre.features.encoders",
}
__all__ = list(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)
