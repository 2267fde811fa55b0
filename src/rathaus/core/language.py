"""The language of the current request (German first, English as the translation)."""

from django.utils.translation import get_language


def in_english() -> bool:
    """True when the page or answer is in English; German otherwise (also outside a request)."""
    return (get_language() or "de").startswith("en")


def localized(error) -> str:
    """The message of an error that carries both (``message_de``, ``message_en``), in the current language."""
    return error.message_en if in_english() else error.message_de
