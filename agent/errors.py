"""Errors raised by the agent.

Hierarchy::

    AgentError                      anything the agent reports; the message never contains PHI
    ├── ConfigError                 a setting is missing or wrong (exit 2 at start)
    ├── JobStoreError               the durable job store failed
    │   └── LostClaim               another worker took the row over (our lease ran out) (rtletter.agent.jobs.claims)
    ├── DraftRejected               the generator returned text that must never be posted (rtletter.agent.jobs.worker)
    ├── HeaderError                 an MLLP message's MSH says AE/AR (rtletter.agent.hl7v2.header)
    ├── MllpClientError             no ACK came back to a message we sent (rtletter.agent.hl7v2.client)
    ├── ReviewRefused               a sign-off action cannot be done in the draft's state; the message is for the user
    ├── UserError                   a worklist account cannot be made or changed (rtletter.agent.worklist.users)
    └── ChannelError                talking to a source or destination failed
        ├── ChannelUnavailable      transient: network down, timeout, 5xx, 429 -> retry with backoff
        ├── ChannelAuthError        401/403 or a token could not be obtained -> retry after fixing config
        └── ChannelRejected         the server understood and refused (4xx, 412 multiple matches) -> dead-letter

Not in the tree: ``rtletter.agent.worklist.auth.LoginRequired`` is FastAPI's ``HTTPException`` (a 303 to the login
page), the web framework's control flow rather than an error the agent reports.

Messages name the channel, the HTTP method, the resource *type* and the status, never a patient's data: they end up
in logs. Foreign exceptions are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of the agent's errors."""


class ConfigError(AgentError):
    """A setting is missing or invalid."""


class JobStoreError(AgentError):
    """The job store could not read or write."""


class ReviewRefused(AgentError):
    """The review action cannot be done in the draft's current state (already signed, an empty reason, the EHR
    changed it meanwhile). The message is shown to the user as is: it never contains patient data."""


class ChannelError(AgentError):
    """A channel operation failed. ``retryable`` tells the worker whether to back off and try again."""

    retryable: bool = True

    def __init__(self, message: str, *, channel: str = "", status: int | None = None) -> None:
        self.channel = channel
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.channel}: {message}" if self.channel else message


class ChannelUnavailable(ChannelError):
    """The other side could not be reached or answered 5xx/429: retry later."""

    retryable = True


class ChannelAuthError(ChannelError):
    """Authentication or authorisation failed (401/403, token endpoint refused)."""

    retryable = True


class ChannelRejected(ChannelError):
    """The other side refused the request for good (4xx other than auth): do not retry unchanged."""

    retryable = False
