"""The one interface every text-generation backend implements (local transformers, OpenAI-compatible HTTP, the
letter templates).

Callers hand over chat messages (as built by ``rtletter.mappers.prompt.build_messages``) and get text back with
token counts and timing; they never see which backend answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Redraft sampling (``Samples``): close enough to greedy to keep the site's wording, far enough to leave a path that
# derailed.
SAMPLE_TEMPERATURE = 0.7
SAMPLE_TOP_P = 0.9

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str  # base model name plus adapter version, for the Device resource and the run card
    truncated: bool = False  # stopped at max_new_tokens, not at the end of turn: the letter may be cut off
    unknown_slots: tuple[str, ...] = ()  # slot ids the prompt did not list (HTTP: nothing constrained the server)

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


@runtime_checkable
class Backend(Protocol):
    """Drafts letters. ``generate`` takes a batch of conversations and returns one Generation each, in order."""

    model_name: str

    def generate(self, conversations: list[list[Message]], *, max_new_tokens: int = 1024) -> list[Generation]: ...


@runtime_checkable
class Samples(Protocol):
    """A backend that can also draw sampled drafts: ``n`` per conversation, reproducible for a ``seed``. Redrafting
    (``rtletter.model.redraft``) draws them for a draft the fact check faults; a backend without it (the template
    backend: one letter per case) keeps its first draft."""

    def sample(
        self, conversations: list[list[Message]], *, n: int, max_new_tokens: int = 1024, seed: int = 0
    ) -> list[list[Generation]]: ...
