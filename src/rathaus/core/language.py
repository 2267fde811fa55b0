"""The language of the current request (German first, English as the translation)."""

from django.utils.translation import get_language


def in_english() -> bool:
    """True when the page or answer is in English; German otherwise (also outside a request)."""
    return (get_language() or "de").startswith("en")
