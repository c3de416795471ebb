"""One worker process for the PostgreSQL test (run as a script, not collected).

    python pg_worker.py URL WORKER_NAME START_FILE

Waits for START_FILE (so that both processes begin together), then drains the queue. Its channel maps events
carrying case JSON and "posts" a draft by inserting a row into the ``completions`` table: the test counts them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import text

from rtletter.agent.channels.base import Draft, Inbound, Posted
from rtletter.agent.channels.file import load_case_json
from rtletter.agent.jobs import JobStore, Worker
from rtletter.mappers.case import Case
from rtletter.model import TemplateBackend

POST_SECONDS = 0.01  # a little real work per post, so that both workers get a share


class CompletionChannel:
    name = "pg"

    def __init__(self, store: JobStore, worker: str) -> None:
        self.store = store
        self.worker = worker

    def poll(self) -> list[Inbound]:
        return []

    def fetch_context(self, inbound: Inbound) -> list[Case]:
        return load_case_json(inbound.payload)

    def post_draft(self, case: Case, draft: Draft) -> Posted:
        time.sleep(POST_SECONDS)
        with self.store.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO completions (job_key, worker) VALUES (:k, :w)"), {"k": case.case_id, "w": self.worker}
            )
        return Posted(document=f"completion/{case.case_id}")


def main(url: str, worker_name: str, start_file: str) -> int:
    store = JobStore(url, lease_s=60)
    while not Path(start_file).exists():
        time.sleep(0.01)
    worker = Worker(store, {"pg": CompletionChannel(store, worker_name)}, TemplateBackend(), worker_id=worker_name)
    result = worker.drain()
    print(f"{worker_name} steps={result.steps} posted={result.posted}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
