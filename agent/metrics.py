"""Prometheus metrics of the agent. Labels are steps, states and channels only: never anything about a patient.

One ``AgentMetrics`` per process, on its own registry (tests build several); the web app serves
``render()`` at ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.schema import OPEN_BY_TABLE
from rtletter.agent.jobs.store import JobStore

# The states a row of each table can be in (an inbound event never becomes generated, posted or signed).
STATES_BY_TABLE: dict[str, tuple[Status, ...]] = {
    "inbound": (Status.received, Status.context_fetched, Status.quarantined, Status.dead),
    "jobs": tuple(s for s in Status if s not in (Status.received, Status.quarantined)),
}

# Steps take from milliseconds (store, file) to minutes (generation on a CPU).
STEP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.jobs = Gauge("rtletter_jobs", "Rows by table and state", ["table", "state"], registry=self.registry)
        self.queue_depth = Gauge(
            "rtletter_queue_depth", "Inbound events and jobs with a step left", registry=self.registry
        )
        self.step_seconds = Histogram(
            "rtletter_step_seconds", "Duration of one step", ["step"], buckets=STEP_BUCKETS_S, registry=self.registry
        )
        self.steps = Counter(
            "rtletter_steps",
            "Steps run, by outcome (ok, retry, dead, quarantined)",
            ["step", "outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter("rtletter_dead_letters", "Rows given up on", ["table"], registry=self.registry)
        self.tokens_per_second = Gauge(
            "rtletter_generated_tokens_per_second",
            "Completion tokens per second of the last draft",
            registry=self.registry,
        )
        self.generated_tokens = Counter(
            "rtletter_generated_tokens", "Completion tokens generated", registry=self.registry
        )
        # rate(rtletter_generated_tokens_total) / rate(rtletter_generation_seconds_total): tokens/s over any window
        self.generation_seconds = Counter(
            "rtletter_generation_seconds", "Seconds spent generating drafts", registry=self.registry
        )
        self.inbound = Counter(
            "rtletter_inbound", "Inbound events by channel and result", ["channel", "result"], registry=self.registry
        )
        self.course_updates = Counter(
            "rtletter_course_updated_after_draft",
            "Courses changed by the source after their draft was made",
            registry=self.registry,
        )

    def refresh(self, store: JobStore) -> None:
        """Set the state gauges from the store (cheap: two GROUP BY queries)."""
        counts = store.counts()
        depth = 0
        for table, by_state in counts.items():
            for state in STATES_BY_TABLE.get(table, tuple(Status)):
                n = by_state.get(state.value, 0)
                self.jobs.labels(table=table, state=state.value).set(n)
                if state in OPEN_BY_TABLE[table]:
                    depth += n
        self.queue_depth.set(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
