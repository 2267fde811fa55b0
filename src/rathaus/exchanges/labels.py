"""Words for stored keys, in the reader's language (stored data stays language-neutral)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from rathaus.core.language import in_english

from .models import Criterion


def rule_label(key: str) -> str:
    """"sibling" → "Geschwisterkind in der Einrichtung"; "distance:1.5" → "Entfernung bis 1,5 km"."""
    criterion, _sep, km = key.partition(":")
    if criterion == Criterion.DISTANCE and km:
        english = in_english()
        return _("Entfernung bis %(km)s km") % {"km": km if english else km.replace(".", ",")}
    try:
        return str(Criterion(criterion).label)
    except ValueError:
        return key


def capacity_key_label(key: str) -> str:
    """"U3@2025-08" → "U3 08/2025"."""
    group, _sep, month = key.partition("@")
    return f"{group} {month[5:7]}/{month[:4]}" if month else group
