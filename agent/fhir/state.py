"""Where the FHIR poller keeps its mark and the course versions it has seen: a tiny key-value protocol.

The job store backs it with its database; ``MemoryState`` is for tests and ``JsonFileState`` for the embedded
single-process setup. Values are short strings (an instant, ``"6|completed"``); keys name resources by type and
logical id, never a patient's data.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol


class StateStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class MemoryState:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value


class JsonFileState:
    """A JSON object in one file, replaced atomically on every write (fine for hundreds of courses a day)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._values: dict[str, str] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._values[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._values, sort_keys=True))
            os.replace(tmp, self.path)
