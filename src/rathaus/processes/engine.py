"""Loading process models for definitions (parsed once per process, then cached by digest)."""

from __future__ import annotations

import threading

from rathaus_domain.processes.engine import ProcessModel

from .steps.registry import load_contrib, steps

_cache: dict[tuple[int, str], ProcessModel] = {}
_lock = threading.Lock()


def model_for(definition) -> ProcessModel:
    """The runnable model of a definition; definitions are immutable, so the cache never goes stale.

    Loaded without checking it again (see ``ProcessModel.from_files``): it passed the check of the
    day it was stored, and a stricter check since must not stop the cases that run on it.
    """
    key = (definition.pk, definition.digest)
    model = _cache.get(key)
    if model is None:
        load_contrib()
        # Published, so checked when it was stored: today's stricter check must not stop its cases.
        model = ProcessModel.from_files(definition.bpmn_files(), definition.dmn_files(), process_id=definition.process_id,
                                        registry=steps, checked=False)
        with _lock:
            _cache[key] = model
    return model
