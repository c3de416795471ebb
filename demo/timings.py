"""Stage timings for the demo: wall-clock and CPU seconds side by side.

On a shared machine the wall clock says little about the demo itself; the CPU seconds of this process (all its
threads, torch's included; not the FHIR server's) do not depend on what else runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.table import Table


class Timings:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[float, float]] = {}  # name -> (wall s, CPU s)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        wall, cpu = time.monotonic(), time.process_time()
        try:
            yield
        finally:
            self.rows[name] = (time.monotonic() - wall, time.process_time() - cpu)

    def table(self) -> Table:
        table = Table(title="Stage timings")
        table.add_column("step")
        table.add_column("wall s", justify="right")
        table.add_column("CPU s (this process)", justify="right")
        for name, (wall, cpu) in self.rows.items():
            table.add_row(name, f"{wall:.1f}", f"{cpu:.1f}")
        walls, cpus = zip(*self.rows.values(), strict=True) if self.rows else ((), ())
        table.add_row("total", f"{sum(walls):.1f}", f"{sum(cpus):.1f}", style="bold")
        return table
