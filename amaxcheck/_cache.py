"""The one cache module: compiled engines, control statistics and synthesis results.

Three stores, all bounded (least recently used entries go first) and none
holding a model alive:

* :data:`ENGINES` -- per live model object (weakly keyed): compiled ascent
  engines and score adapters, keyed by the :class:`~amaxcheck.ascent.config.AscentConfig`
  parts that shape the graph. Values refer to their model only weakly, so
  ``del model; gc.collect()`` frees the model, its engines and their graphs.
* :data:`RESULTS` -- :class:`~amaxcheck.ascent.result.SynthesisResult` values
  (plain arrays) keyed by (weights fingerprint, classes, labels, config).
  Two model objects with the same weights share entries; a model whose weights
  changed gets new ones.
* :data:`CONTROLS` -- statistics of the learned-nothing control, keyed the
  same way.

The pytest plugin's session cache, the hypothesis strategies' cache and the
verdict's control cache are uses of these (see :func:`cached_synthesize`).
:func:`clear` empties everything; :func:`info` reports sizes and hit counts.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from . import defaults as D

V = TypeVar("V")


class LRU(Generic[V]):
    """A bounded, thread-safe mapping that forgets its least recently used entries."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = int(maxsize)
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def values(self) -> list[V]:
        """The cached values, least recently used first (a snapshot)."""
        with self._lock:
            return list(self._data.values())

    def get(self, key: Hashable) -> V | None:
        """The value for ``key`` (marking it recently used), or ``None``; counts a hit or a miss."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: V) -> V:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def get_or_build(self, key: Hashable, build: Callable[[], V]) -> V:
        """The cached value for ``key``, building and storing it on a miss."""
        found = self.get(key)
        return found if found is not None else self.put(key, build())

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def discard(self, predicate: Callable[[Hashable], bool]) -> int:
        """Remove the entries whose key satisfies ``predicate``; return how many."""
        with self._lock:
            gone = [k for k in self._data if predicate(k)]
            for k in gone:
                del self._data[k]
        return len(gone)

    def info(self) -> dict[str, int]:
        return {"size": len(self._data), "maxsize": self.maxsize, "hits": self.hits, "misses": self.misses}


class PerModel:
    """One :class:`LRU` per live model object, dropped with the model (its values must hold the model weakly)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._by_model: weakref.WeakKeyDictionary[Any, LRU[Any]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, model: Any) -> LRU[Any]:
        with self._lock:
            store = self._by_model.get(model)
            if store is None:
                store = self._by_model[model] = LRU(self.maxsize)
            return store

    def get_or_build(self, model: Any, key: Hashable, build: Callable[[], V]) -> V:
        return self.of(model).get_or_build(key, build)

    def clear(self, model: Any = None) -> None:
        with self._lock:
            if model is None:
                self._by_model.clear()
            else:
                self._by_model.pop(model, None)

    def info(self) -> dict[str, int]:
        stores = list(self._by_model.values())
        return {"models": len(stores), "size": sum(len(s) for s in stores),
                "hits": sum(s.hits for s in stores), "misses": sum(s.misses for s in stores)}


#: compiled engines and adapters, per live model
ENGINES = PerModel(D.ENGINE_CACHE_SIZE)
#: synthesis results (plain data), keyed by weights fingerprint and settings
RESULTS: LRU[Any] = LRU(D.RESULT_CACHE_SIZE)
#: statistics of the learned-nothing control, keyed like RESULTS
CONTROLS: LRU[Any] = LRU(D.RESULT_CACHE_SIZE)


def clear() -> None:
    """Forget every cached engine, result and control statistic."""
    ENGINES.clear()
    RESULTS.clear()
    CONTROLS.clear()


def info() -> dict[str, dict[str, int]]:
    """Sizes and hit counts of the three stores."""
    return {"engines": ENGINES.info(), "results": RESULTS.info(), "controls": CONTROLS.info()}


def result_key(model: Any, classes: Any, labels: Any, config: Hashable) -> tuple[Hashable, ...]:
    """The key of a synthesis result: the model's weights and architecture, the classes, labels and config.

    Of the config only what the result depends on (:meth:`AscentConfig.result_key`: not where it ran).
    """
    from .ascent.model_adapter import fingerprint

    identity = config.result_key() if hasattr(config, "result_key") else config
    return (fingerprint(model), architecture_key(model), _plain(classes),
            None if labels is None else tuple(str(v) for v in labels), identity)


def architecture_key(model: Any) -> str:
    """A digest of the model's layer configuration (two models with equal weights may differ in architecture)."""
    import hashlib
    import json

    try:
        text = json.dumps(model.get_config(), sort_keys=True, default=repr)
    except Exception:  # noqa: BLE001 - subclassed models without get_config raise anything
        text = repr([type(layer).__name__ for layer in getattr(model, "layers", [])])
    return hashlib.sha1(text.encode()).hexdigest()


def _plain(classes: Any) -> Hashable:
    if isinstance(classes, (list, tuple)):
        return tuple(_plain(c) for c in classes)
    if hasattr(classes, "item") and not isinstance(classes, str):
        return classes.item()
    return classes


def cached_synthesize(model: Any, classes: Any, config: Any, *, labels: Any = None, progress: Any = False,
                      store: LRU[Any] | None = None, timings: Any = None) -> Any:
    """:func:`amaxcheck.synthesize` served from ``store`` (default :data:`RESULTS`) when the same run was made.

    The returned result's arrays are read-only: callers share it.
    """
    from .ascent.engine import synthesize

    store = RESULTS if store is None else store
    key = result_key(model, classes, labels, config)
    found = store.get(key)
    if found is not None:
        return found.bind(model)
    result = synthesize(model, classes, config=config, labels=labels, progress=progress, timings=timings)
    result.freeze()
    return store.put(key, result)
