"""What the worklist's buttons call: the review actions (sign, reject, save edit, regenerate).

The domain logic (FHIR transactions, job store updates, feedback pairs) lives in ``rtletter.agent.review``; the web
layer only checks who may do what, passes the user on and shows the outcome. ``ReviewActions`` is the shape the
routes rely on; ``ActionRefused`` is an expected refusal (a draft already signed, an empty reason) whose message,
free of patient data, is shown to the user.
"""

from __future__ import annotations

from typing import Protocol

from rtletter.agent.worklist.users import User


class ActionRefused(Exception):
    """The action cannot be done in the draft's current state; the message is shown as is (no PHI)."""


class ReviewActions(Protocol):
    def save_edit(self, job_id: int, text: str, user: User) -> None:
        """Store the edited text as the draft's current text (the draft stays preliminary)."""
        ...

    def sign(
        self,
        job_id: int,
        text: str,
        user: User,
        *,
        acknowledge_course_change: bool = False,
        acknowledge_findings: bool = False,
    ) -> None:
        """Sign ``text``: final document with the user as authenticator and verifier, Task completed. A draft whose
        course changed after drafting, or a text with contradicted fact-check findings, is refused unless the
        physician confirms having checked them (the findings acknowledgement is audited)."""
        ...

    def reject(self, job_id: int, reason: str, user: User) -> None:
        """Reject the draft with a reason: Task rejected, document entered-in-error."""
        ...

    def regenerate(self, job_id: int, user: User) -> int | None:
        """Ask for a new draft version (the old one superseded); returns the job id that will carry it."""
        ...
