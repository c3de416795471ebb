"""Worklist accounts, sessions and login attempts, in the job database (tables of their own, same engine).

Passwords are argon2id hashes (argon2-cffi defaults, RFC 9106); a hash made with older parameters is re-hashed at
the next successful login. Sessions are server-side: the cookie holds a random token, the table only its SHA-256,
so a copy of the database opens no session. Login attempts are kept so that the rate limit holds across replicas.
"""

from __future__ import annotations

import hashlib
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from rtletter.agent.errors import AgentError
from rtletter.agent.jobs.schema import UTCDateTime
from rtletter.agent.jobs.store import JobStore


class Role(StrEnum):
    viewer = "viewer"  # reads drafts
    physician = "physician"  # reads, edits, signs, rejects, regenerates


PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.viewer: frozenset({"view"}),
    Role.physician: frozenset({"view", "edit", "sign", "reject", "regenerate"}),
}

NAME_MAX = 64

metadata = MetaData()

users_table = Table(
    "worklist_users",
    metadata,
    Column("name", String(NAME_MAX), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256)),  # None: proxy-only account
    Column("display_name", String(256)),
    Column("practitioner", String(256)),  # FHIR reference of the signer: "Practitioner/123"
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sessions_table = Table(
    "worklist_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name", String(NAME_MAX), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_worklist_sessions_expiry", "expires_at"),
)


@dataclass(frozen=True)
class Failures:
    """Recent failed logins (``UserStore.recent_failures``): per user name + client address, and per address."""

    by_pair: int
    pair_last: datetime | None
    by_client: int
    client_last: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


login_attempts_table = Table(
    "worklist_login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user_name", String(NAME_MAX), nullable=False),
    Column("client", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_worklist_login_attempts_at", "at"),
)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    display_name: str | None = None
    practitioner: str | None = None

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]

    @property
    def label(self) -> str:
        return self.display_name or self.name


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: datetime


class UserError(AgentError):
    """A wrong user name, role or password given by an operator (one line, no secrets)."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError(f"user name must be 1-{NAME_MAX} letters, digits or . _ - @")
    return name


class UserStore:
    """Accounts, sessions and login attempts on the job store's database."""

    def __init__(self, store: JobStore, *, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.engine = store.engine
        self.clock = store.clock
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))  # same work for unknown names

    def _tx(self) -> AbstractContextManager[Connection]:
        return self.store.transaction("worklist tables")

    def create_tables(self) -> None:
        self.store.create_tables_of(metadata, "worklist tables")

    # --- accounts ---------------------------------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        role: Role | str,
        password: str | None,
        *,
        display_name: str | None = None,
        practitioner: str | None = None,
    ) -> User:
        """Create an account (``password`` None: proxy-only). Raises UserError when the name is taken."""
        name = check_name(name)
        try:
            role = Role(role)
        except ValueError:
            raise UserError(f"unknown role {role!r} (one of {', '.join(Role)})") from None
        if password is not None and len(password) < 10:
            raise UserError("password must have at least 10 characters")
        now = self.clock()
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(users_table).values(
                        name=name,
                        role=role.value,
                        password_hash=self.hasher.hash(password) if password is not None else None,
                        display_name=display_name,
                        practitioner=practitioner,
                        disabled=False,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise UserError(f"user {name} exists already") from None
        self.store.audit("cli", "write", "user", name, f"account created ({role.value})")
        return User(name, role, display_name, practitioner)

    def get_user(self, name: str) -> User | None:
        with self._tx() as conn:
            row = conn.execute(select(users_table).where(users_table.c.name == name)).mappings().first()
        if row is None or row["disabled"]:
            return None
        return User(row["name"], Role(row["role"]), row["display_name"], row["practitioner"])

    def list_users(self) -> list[User]:
        with self._tx() as conn:
            rows = conn.execute(select(users_table).order_by(users_table.c.name)).mappings().all()
        return [User(r["name"], Role(r["role"]), r["display_name"], r["practitioner"]) for r in rows]

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 10:
            raise UserError("password must have at least 10 characters")
        with self._tx() as conn:
            done = conn.execute(
                update(users_table)
                .where(users_table.c.name == name)
                .values(password_hash=self.hasher.hash(password), updated_at=self.clock())
            )
            if done.rowcount != 1:
                raise UserError(f"no user {name}")
            conn.execute(delete(sessions_table).where(sessions_table.c.user_name == name))
        self.store.audit("cli", "write", "user", name, "password set")

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` matches; None otherwise (same argon2 work for an unknown name)."""
        with self._tx() as conn:
            row = conn.execute(select(users_table).where(users_table.c.name == name)).mappings().first()
        stored = row["password_hash"] if row is not None and not row["disabled"] else None
        try:
            self.hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if stored is None or row is None:
            return None
        if self.hasher.check_needs_rehash(stored):
            with self._tx() as conn:
                conn.execute(
                    update(users_table)
                    .where(users_table.c.name == name)
                    .values(password_hash=self.hasher.hash(password))
                )
        return User(row["name"], Role(row["role"]), row["display_name"], row["practitioner"])

    # --- login rate limit -------------------------------------------------------------------------------------------

    def record_login(self, name: str, client: str, ok: bool) -> None:
        with self._tx() as conn:
            conn.execute(
                insert(login_attempts_table).values(
                    at=self.clock(), user_name=name[:NAME_MAX], client=client[:64], ok=ok
                )
            )

    def recent_failures(self, name: str, client: str, window: timedelta) -> Failures:
        """Failed logins within ``window`` that no successful login has wiped out since: for this user name from this
        client address, and from this address under any name; with the time of the latest of each."""
        table = login_attempts_table
        since = self.clock() - window
        user, address = name[:NAME_MAX], client[:64]
        with self._tx() as conn:
            last_ok = conn.execute(
                select(func.max(table.c.at)).where(
                    table.c.ok.is_(True), table.c.user_name == user, table.c.client == address, table.c.at >= since
                )
            ).scalar()
            after = table.c.at > last_ok if last_ok is not None else table.c.at >= since
            by_pair, pair_last = conn.execute(
                select(func.count(), func.max(table.c.at)).where(
                    table.c.ok.is_(False), table.c.user_name == user, table.c.client == address, after
                )
            ).one()
            by_client, client_last = conn.execute(
                select(func.count(), func.max(table.c.at)).where(
                    table.c.ok.is_(False), table.c.client == address, table.c.at >= since
                )
            ).one()
            conn.execute(delete(table).where(table.c.at < since - window))  # keep the table small
        return Failures(int(by_pair), _aware(pair_last), int(by_client), _aware(client_last))

    # --- sessions ---------------------------------------------------------------------------------------------------

    def open_session(self, user: User, ttl: timedelta) -> tuple[str, Session]:
        """A new session; returns the cookie token (shown once, stored hashed) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        with self._tx() as conn:
            conn.execute(delete(sessions_table).where(sessions_table.c.expires_at < now))
            conn.execute(
                insert(sessions_table).values(
                    token_hash=_token_hash(token), user_name=user.name, csrf=csrf, created_at=now, expires_at=now + ttl
                )
            )
        return token, Session(user, csrf, now + ttl)

    def get_session(self, token: str, *, proxy_user: User | None = None) -> Session | None:
        """The live session of ``token``; None when unknown, expired or the account is gone or disabled.
        ``proxy_user``: the user a trusted proxy vouches for (accounts need not exist then)."""
        with self._tx() as conn:
            row = (
                conn.execute(select(sessions_table).where(sessions_table.c.token_hash == _token_hash(token)))
                .mappings()
                .first()
            )
        if row is None or row["expires_at"] <= self.clock():
            return None
        if proxy_user is not None:
            if proxy_user.name != row["user_name"]:
                return None
            return Session(proxy_user, row["csrf"], row["expires_at"])
        user = self.get_user(row["user_name"])
        return Session(user, row["csrf"], row["expires_at"]) if user else None

    def close_session(self, token: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(sessions_table).where(sessions_table.c.token_hash == _token_hash(token)))
