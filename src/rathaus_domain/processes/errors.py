"""The base of every error of the process core: one German and one English text."""

from __future__ import annotations


class BilingualError(Exception):
    """An error with a German text for the UI and an English one for logs and the API."""

    def __init__(self, message_de: str, message_en: str, *, where: str | None = None) -> None:
        self.message_de = message_de
        self.message_en = message_en
        super().__init__(f"{message_de} / {message_en}" + (f" [{where}]" if where else ""))
