"""Loading process models for definitions (parsed once per process, then cached by digest)."""

from __future__ import annotations

import threading

from rathaus_domain.processes.engine import ProcessModel

from .steps.registry import load_contrib, steps

_cache: dict[tuple[int, str], ProcessModel] = {}
_lock = threading.Lock()


def model_for(definition) -> ProcessModel:
    """The runnable model of a definition; definitions are immutable, so the cache never goes stale."""
    key = (definition.pk, definition.digest)
    model = _cache.get(key)
    if model is None:
        load_contrib()
        model = ProcessModel.from_files(definition.bpmn_files(), definition.dmn_files(), process_id=definition.process_id,
                                        registry=steps)
        with _lock:
            _cache[key] = model
    return model
