"""Small real multimodal datasets shipped with mmlearn, loaded as scikit-learn Bunches."""

from .av_digits import load_av_digits
from .clothing_reviews import load_clothing_reviews
from .emoji import load_emoji
from .spoken_digits import load_spoken_digits

__all__ = [
    "load_av_digits",
    "load_clothing_reviews",
    "load_emoji",
    "load_spoken_digits",
]
