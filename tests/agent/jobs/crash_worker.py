"""A worker process with fault injection, for the crash and shutdown tests (run as a script, not collected).

    python crash_worker.py CONFIG POINT

POINT says where the process SIGKILLs itself, the first time it gets there:
    acknowledge    the inbound event is committed, the inbox file not yet removed
    fetch_context  the cases are mapped, not yet stored as jobs
    generate       the draft is generated, not yet stored
    post           the draft files are in the outbox, the job not yet marked posted
    term-in-generate   instead of dying, send itself SIGTERM in the middle of a generation (graceful shutdown)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import load_settings
from rtletter.agent.jobs import RetryStrategy, Worker
from rtletter.agent.log import configure_logging
from rtletter.agent.service import open_store
from rtletter.model import TemplateBackend


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingChannel(FileChannel):
    point = ""

    def acknowledge(self, inbound: Any) -> None:
        if self.point == "acknowledge":
            _die()
        super().acknowledge(inbound)

    def fetch_context(self, inbound: Any) -> Any:
        cases = super().fetch_context(inbound)
        if self.point == "fetch_context":
            _die()
        return cases

    def post_draft(self, case: Any, draft: Any) -> Any:
        posted = super().post_draft(case, draft)
        if self.point == "post":
            _die()
        return posted


class CrashingBackend(TemplateBackend):
    point = ""

    def generate(self, conversations: Any, *, max_new_tokens: int = 1024) -> Any:
        if self.point == "term-in-generate":
            os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-step: the step must still complete and checkpoint
        result = super().generate(conversations, max_new_tokens=max_new_tokens)
        if self.point == "generate":
            _die()
        return result


def main(config: str, point: str) -> int:
    settings = load_settings(Path(config))
    configure_logging("INFO")
    assert settings.channels.file is not None
    channel = CrashingChannel(settings.channels.file)
    generator = CrashingBackend()
    channel.point = generator.point = point
    worker = Worker(
        open_store(settings),
        {"file": channel},
        generator,
        retry=RetryStrategy(settings.jobs.max_attempts, settings.jobs.backoff_base_s, settings.jobs.backoff_max_s),
    )
    worker.install_signal_handlers()
    worker.poll_channels()
    worker.drain()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
