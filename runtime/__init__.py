"""Where Veredicto keeps its files (`runtime.settings`) and the process-wide state every session shares
(`runtime.process`: caches and their locks, owned by one `Runtime`; `runtime.current()` returns it), and the
output escaping every layer shares (`runtime.escaping`: Markdown values and spreadsheet-safe CSV).

The bottom of the import graph: this package imports nothing from the project, so every package may import it.
"""

from __future__ import annotations

from runtime.process import LRUCache, Runtime, current

__all__ = ["LRUCache", "Runtime", "current"]
