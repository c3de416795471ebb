"""The agent's settings: one pydantic-settings class, read from YAML, overridden by ``RTLETTER_*`` environment
variables.

Built once in the entry point (``load_settings(path)``) and passed down; nothing reads settings at import time.
Validated at start so that a site finds its mistakes before the first patient: unknown keys are refused with their
dotted path, URLs must parse, the model folder must exist when the local backend is chosen, secrets have no
defaults. Environment overrides use ``__`` between levels: ``RTLETTER_DATABASE__URL``,
``RTLETTER_CHANNELS__FHIR__AUTH__TOKEN``.

Relative paths are taken relative to the working directory the agent runs in.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rtletter.agent.errors import ConfigError
from rtletter.mappers.codes import LOINC

if TYPE_CHECKING:
    from rtletter.mappers.scaffold import Site
    from rtletter.model import Backend

# --- defaults, with their units -------------------------------------------------------------------------------------

DATABASE_URL = "sqlite:///var/rtletter.db"
POLL_INTERVAL_S = 30.0
FOLLOW_INTERVAL_S = 60.0  # EHR worklist mode: how often open drafts are looked up (Task subscriptions come sooner)
FHIR_POLL_OVERLAP_S = 300.0  # _lastUpdated overlap: server clocks and commit order are not exact
FILE_SETTLE_S = 2.0  # a dropped file is read once unchanged this long (writers that do not rename atomically)
MLLP_PORT = 2575  # IANA port for HL7 over MLLP
MLLP_MAX_MESSAGE_BYTES = 1_048_576
MLLP_MAX_CONNECTIONS = 1000  # an idle persistent connection costs a few kB; more than this is an attack or a leak
MLLP_FRAME_TIMEOUT_S = 60.0  # a 1 MB message takes seconds even on a slow link
MLLP_MAX_BUFFERED_BYTES = 64 * 1_048_576  # unfinished frames of all connections together
MLLP_SILENT_TIMEOUT_S = 600.0  # a connection that has not sent one message this long after connecting is closed
WEBHOOK_MAX_BODY_BYTES = 4 * 1_048_576  # one course's resource or notification Bundle is kilobytes
WEBHOOK_MAX_DEPTH = 64  # the deepest mCODE/CodeX paths are about 12 levels (same as mappers.fhir.bundle.MAX_DEPTH)
MAX_NEW_TOKENS = 1024
BACKFILL_CRON = "30 2 * * *"  # nightly, after the usual OIS end-of-day batch
MISFIRE_GRACE_S = 3600
BACKFILL_DAYS = 7
# SMART Backend Services: read what a letter needs, write only the draft set (DocumentReference, Provenance, Task, the
# AI Device); no delete. Same as rtletter.agent.fhir.auth.DEFAULT_SCOPE.
SMART_SCOPE = "system/*.rs system/DocumentReference.cu system/Provenance.cu system/Task.cu system/Device.cu"
WEB_PORT = 8080
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 900.0
LEASE_S = 900.0  # a claimed job is another worker's again after this long without progress (a crashed worker)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- database -------------------------------------------------------------------------------------------------------


class DatabaseSettings(_Section):
    url: str = DATABASE_URL

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (sqlite:///path or postgresql+psycopg://user@host/db)") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"database {url.get_backend_name()!r} is not supported (sqlite or postgresql)")
        return value


# --- channels -------------------------------------------------------------------------------------------------------


class FileChannelSettings(_Section):
    inbox: Path = Path("var/inbox")
    outbox: Path = Path("var/outbox")
    quarantine: Path = Path("var/quarantine")
    settle_s: float = Field(default=FILE_SETTLE_S, ge=0)


class NoAuth(_Section):
    kind: Literal["none"] = "none"


class BasicAuth(_Section):
    kind: Literal["basic"]
    username: str
    password: SecretStr


class BearerAuth(_Section):
    kind: Literal["bearer"]
    token: SecretStr


class SmartBackendAuth(_Section):
    """SMART Backend Services (client credentials, private_key_jwt)."""

    kind: Literal["smart-backend"]
    client_id: str
    private_key_file: Path
    key_id: str | None = None
    algorithm: Literal["RS384", "ES384"] = "RS384"
    scope: str = SMART_SCOPE  # add system/Subscription.cu for `rtletter subscribe`, AuditEvent.c for audit events
    token_url: HttpUrl | None = None  # None: discovered from .well-known/smart-configuration

    @field_validator("private_key_file")
    @classmethod
    def _key_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"private key file {value} does not exist")
        return value


FhirAuth = Annotated[NoAuth | BasicAuth | BearerAuth | SmartBackendAuth, Field(discriminator="kind")]


class FhirChannelSettings(_Section):
    base_url: HttpUrl
    auth: FhirAuth = NoAuth()
    poll_start: Literal["first-start"] | AwareDatetime = Field(
        default="first-start",
        description="the earliest change the poll takes: first-start (the instant of the agent's first poll, recorded "
        "in the job store) or an ISO date-time with zone; earlier courses come only through `rtletter backfill`",
    )
    poll_overlap_s: float = Field(default=FHIR_POLL_OVERLAP_S, ge=0)
    subscription_secret: SecretStr | None = None  # required header on notifications when subscriptions are used
    # Where the FHIR server sends notifications (this agent's /fhir/notify as the server reaches it); None:
    # http://<web.host>:<web.port>/fhir/notify. Used by `rtletter subscribe`.
    subscription_endpoint: HttpUrl | None = None
    subscription_topic: str | None = None  # a Backport SubscriptionTopic canonical URL; None: an R4 criteria one
    subscription_heartbeat_s: int | None = Field(default=None, gt=0)  # Backport heartbeat period asked for
    subscription_task_topic: str | None = Field(
        default=None,
        description="a Backport SubscriptionTopic for the agent's review Tasks (EHR sign-offs followed at once); "
        "None: an R4 criteria one on Task.code where subscription_topic is None, else no Task subscription",
    )
    # Also send an AuditEvent per read and write of patient data to the server (the audit table records them always);
    # needs system/AuditEvent.c in a SMART scope.
    audit_events: bool = False
    document_type: str = f"{LOINC}|68602-2"
    timeout_s: float = Field(default=30.0, gt=0)
    subscription_max_body_bytes: int = Field(default=WEBHOOK_MAX_BODY_BYTES, gt=0)  # larger notifications: 413
    subscription_max_depth: int = Field(default=WEBHOOK_MAX_DEPTH, ge=1)  # deeper JSON nesting: 400


class MllpTls(_Section):
    cert_file: Path
    key_file: Path
    ca_file: Path | None = None  # set to require client certificates

    @model_validator(mode="after")
    def _files_exist(self) -> MllpTls:
        for name in ("cert_file", "key_file", "ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} does not exist")
        return self


class MllpOutboundTls(_Section):
    ca_file: Path | None = None  # CA of the receiver's certificate; None: the system's trust store
    cert_file: Path | None = None  # client certificate, where the receiver asks for one
    key_file: Path | None = None

    @model_validator(mode="after")
    def _files_exist(self) -> MllpOutboundTls:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} does not exist")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MllpOutbound(_Section):
    """Where drafts go as MDM^T02 (TXA-17 IP); the receiver's ACK decides posted or retry."""

    host: str
    port: int = Field(ge=1, le=65535)
    timeout_s: float = Field(default=30.0, gt=0)  # connect + send + wait for the ACK
    tls: MllpOutboundTls | None = None
    encoding: str = "utf-8"  # MSH-18 of the MDM: utf-8, latin-1, iso8859-15 or ascii
    document_type: str = "DS"  # TXA-2, HL7 table 0270 (site-defined)
    receiving_application: str = ""  # MSH-5
    receiving_facility: str = ""  # MSH-6
    signoff_event: Literal["T02", "T04", "T08"] = "T02"  # MDM event of the signed letter (TXA-17 AU), per site

    @field_validator("encoding")
    @classmethod
    def _writable_encoding(cls, value: str) -> str:
        from rtletter.mappers.errors import UnsupportedInput
        from rtletter.mappers.hl7v2.message import MSH18_FOR_CODEC, codec_for

        try:
            known = codec_for(value) in MSH18_FOR_CODEC
        except UnsupportedInput:
            known = False
        if not known:
            raise ValueError(f"MDM is written in {', '.join(MSH18_FOR_CODEC)}, not {value!r}")
        return value


class MllpChannelSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=MLLP_PORT, ge=1, le=65535)
    encoding: str = "latin-1"  # used when MSH-18 is empty; German sites send 8859/1
    tls: MllpTls | None = None
    max_message_bytes: int = Field(default=MLLP_MAX_MESSAGE_BYTES, gt=0)
    max_connections: int = Field(default=MLLP_MAX_CONNECTIONS, ge=1)  # more are closed at once (and logged)
    frame_timeout_s: float = Field(default=MLLP_FRAME_TIMEOUT_S, gt=0)  # a started frame must end within this
    max_buffered_bytes: int = Field(default=MLLP_MAX_BUFFERED_BYTES, gt=0)  # past it the biggest holders are closed
    silent_timeout_s: float = Field(default=MLLP_SILENT_TIMEOUT_S, gt=0)  # no message since connecting: closed
    profile: Path | None = None  # site mapping profile (YAML) for the HL7 v2 mapper
    outbound: MllpOutbound | None = None  # MDM^T02 write-back; None: drafts of this channel cannot be posted

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        from rtletter.mappers.errors import UnsupportedInput, WideCharset
        from rtletter.mappers.hl7v2.message import codec_for

        try:
            codec_for(value)
        except WideCharset:
            raise ValueError(f"{value!r}: UTF-16 and UTF-32 cannot be carried over MLLP") from None
        except UnsupportedInput:  # unknown, or no character set in which MSH reads as ASCII (zlib, EBCDIC)
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


class ChannelSettings(_Section):
    """Each channel is on when its section is present."""

    file: FileChannelSettings | None = None
    fhir: FhirChannelSettings | None = None
    mllp: MllpChannelSettings | None = None


# --- model ----------------------------------------------------------------------------------------------------------


class LetterheadSettings(_Section):
    """The department's letterhead, which the letter template (``model.scaffold``) writes around the model's body."""

    institution: str = ""  # first line of the letterhead: "Universitätsklinikum Rheinstadt"
    department: str = ""  # "Klinik für Radioonkologie und Strahlentherapie"
    head: str = ""  # head of department: named in the letterhead, signs every letter
    town: str = ""  # of the date line: "Rheinstadt, den 14.04.2026"
    template_dir: Path | None = None  # the site's letter.de.j2 / letter.en.j2 (blocks head, body, tail)

    @field_validator("template_dir")
    @classmethod
    def _folder_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"template folder {value} does not exist")
        return value


class ModelSettings(_Section):
    """``local``: transformers on this machine; ``openai``: an OpenAI-compatible server (vLLM, llama.cpp);
    ``template``: no model, a plain letter from the case facts (the documented fallback and benchmark baseline)."""

    backend: Literal["local", "openai", "template"] = "template"
    base_dir: Path | None = None
    adapter_dir: Path | None = None
    base_url: HttpUrl | None = None
    model_name: str | None = None
    api_key: SecretStr | None = None
    max_new_tokens: int = Field(default=MAX_NEW_TOKENS, gt=0)
    max_prompt_tokens: int = Field(default=3072, gt=0)
    # Drafts due together are generated as one batch (local: padded into one forward pass).
    batch_size: int = Field(default=8, ge=1)
    # openai: requests in flight at once (vLLM batches them); at most batch_size are due together.
    concurrency: int = Field(default=8, ge=1)
    # The model server's --max-lora-rank (vLLM); with adapter_dir, an adapter of a higher rank fails the check.
    max_lora_rank: int | None = Field(default=None, ge=1)
    scaffold: bool = Field(
        default=True,
        description="the letter template writes letterhead, addresses, subject line, salutation, closing and "
        "signatures (model.letterhead), the model only the clinical body between them (its prompt asks for that, "
        "as the fine-tuning data taught it); false: the model writes the whole letter (adapters trained on whole "
        "letters)",
    )
    fact_slots: bool = Field(
        default=True,
        description="fact slots: the prompt lists each fact's slot id ([dose_total.1]), the model writes ids in place "
        "of values and the draft is filled from the case (a value can only be wrong by its place, never invented); "
        "must match the adapter's training data (`dataset build --fact-slots`, the default); false: free text",
    )
    redraft: int = Field(
        default=8,
        ge=0,
        description="sampled drafts drawn for a draft the fact check faults (contradicted, cut off, unsupported, key "
        "facts left out); the candidate with the fewest faults is posted and draft_meta.redraft records the choice; "
        "0: post the first draft as it is; the template backend never redrafts; with an adapter that ships its "
        "training letters' words (site_words.txt, written by model finetune) a draft's non-words count too, after "
        "the facts; a physician's regenerate draws this many sampled drafts and posts the best (0: one greedy draft)",
    )
    fallback: Literal["template", "none"] = Field(
        default="template",
        description="a model draft still faulted after redrafting (a wrong or missing fact, cut off, words outside the "
        "site's letters) gives way to the site's template letter when that has fewer faults; draft_meta.redraft "
        "records it with the model draft's faults and the worklist says so; none: post the model's best draft",
    )
    letterhead: LetterheadSettings = LetterheadSettings()

    @model_validator(mode="after")
    def _backend_needs(self) -> ModelSettings:
        if self.backend == "local":
            if self.base_dir is None:
                raise ValueError("base_dir is required for the local backend")
            if not self.base_dir.is_dir():
                raise ValueError(f"model folder {self.base_dir} does not exist")
            if self.adapter_dir is not None and not self.adapter_dir.is_dir():
                raise ValueError(f"adapter folder {self.adapter_dir} does not exist")
        if self.backend == "openai" and (self.base_url is None or not self.model_name):
            raise ValueError("base_url and model_name are required for the openai backend")
        if self.adapter_dir is not None and self.max_lora_rank is not None:
            rank = self.adapter_rank()
            if rank > self.max_lora_rank:
                raise ValueError(
                    f"adapter {self.adapter_dir} has LoRA rank {rank}, above max_lora_rank {self.max_lora_rank} "
                    f"(the server's --max-lora-rank): the server would refuse it; raise RTLETTER_MAX_LORA_RANK "
                    f"(deploy/) and model.max_lora_rank to at least {rank}"
                )
        return self

    def site(self) -> Site | None:
        """The letter template's settings when ``scaffold`` is on, else None (the draft is posted as generated)."""
        from rtletter.mappers.scaffold import Site

        if not self.scaffold:
            return None
        head = self.letterhead
        return Site(institution=head.institution, department=head.department, head=head.head, town=head.town,
                    template_dir=head.template_dir)  # fmt: skip

    def site_words(self) -> frozenset[str] | None:
        """The site's words for the wording check (``site_words.txt`` in ``adapter_dir``, written by ``model
        finetune``); None without an adapter that ships them, or for the template backend (it writes the templates'
        words only)."""
        from rtletter.model import site_words  # plain text reading: no torch

        return None if self.backend == "template" else site_words(self.adapter_dir)

    def fallback_backend(self) -> Backend | None:
        """The template backend that takes over a draft redrafting left faulted (``fallback``), or None."""
        from rtletter.model.backends.template import TemplateBackend

        if self.fallback == "none" or self.backend == "template":
            return None
        return TemplateBackend(self.letterhead.template_dir, scaffold=self.scaffold)

    def adapter_rank(self) -> int:
        """The LoRA rank of ``adapter_dir`` (``r`` in its ``adapter_config.json``, or a higher per-module rank)."""
        from rtletter.model import adapter_rank  # plain JSON reading: no torch

        if self.adapter_dir is None or not self.adapter_dir.is_dir():
            raise ValueError(f"adapter folder {self.adapter_dir} does not exist")
        try:
            return adapter_rank(self.adapter_dir)
        except Exception as exc:  # ModelLoadError: the adapter folder's config is unreadable
            raise ValueError(str(exc)) from None


# --- jobs, scheduler, web, logging ----------------------------------------------------------------------------------


class JobSettings(_Section):
    max_attempts: int = Field(default=MAX_ATTEMPTS, ge=1)
    backoff_base_s: float = Field(default=BACKOFF_BASE_S, ge=0)
    backoff_max_s: float = Field(default=BACKOFF_MAX_S, ge=0)
    lease_s: float = Field(default=LEASE_S, gt=0)


class SchedulerSettings(_Section):
    poll_interval_s: float = Field(default=POLL_INTERVAL_S, gt=0)  # every channel's poll (FHIR search, file inbox)
    follow_interval_s: float = Field(default=FOLLOW_INTERVAL_S, gt=0)
    backfill_cron: str | None = BACKFILL_CRON  # crontab, 5 fields; None turns the nightly backfill off
    backfill_days: int = Field(default=BACKFILL_DAYS, ge=1)  # the nightly backfill looks this many days back
    misfire_grace_s: int = Field(default=MISFIRE_GRACE_S, ge=1)

    @field_validator("backfill_cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a crontab expression ({exc})") from None
        return value


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=WEB_PORT, ge=1, le=65535)


class WorklistSettings(_Section):
    """The physician worklist (``rtletter.agent.worklist``): local accounts or a trusted reverse proxy's header."""

    auth: Literal["local", "proxy"] = "local"
    proxy_user_header: str = "X-Forwarded-User"  # set by the proxy after OIDC; trusted only from proxy_hosts
    proxy_hosts: tuple[str, ...] = ("127.0.0.1", "::1")
    proxy_default_role: Literal["viewer", "physician"] = "viewer"  # for proxy users without a local account
    cookie_secure: bool = True  # False only for plain-HTTP tests on loopback
    session_ttl_s: float = Field(default=8 * 3600, gt=0)
    login_max_failures: int = Field(default=5, ge=1)  # per user name + client address before delays begin
    login_window_s: float = Field(default=900, gt=0)  # failures older than this no longer count
    login_delay_s: float = Field(default=1.0, gt=0)  # first delay after the free failures; doubles with each one
    login_max_delay_s: float = Field(default=300.0, gt=0)  # the delay grows no further; the right password then passes
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For names the client; empty: never believed
    fhir_base_url: HttpUrl | None = None  # where source facts link to; default channels.fhir.base_url


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_output: bool = Field(default=True, alias="json")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- the settings ---------------------------------------------------------------------------------------------------

_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("_yaml_data", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file's content, below the environment in priority."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RTLETTER_", env_nested_delimiter="__", extra="forbid", frozen=True)

    database: DatabaseSettings = DatabaseSettings()
    channels: ChannelSettings = ChannelSettings()
    model: ModelSettings = ModelSettings()
    jobs: JobSettings = JobSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    web: WebSettings = WebSettings()
    worklist: WorklistSettings = WorklistSettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlSource(settings_cls), file_secret_settings

    def summary(self) -> list[str]:
        """What is configured, one line per section, without secrets."""
        lines = [f"database: {_redact_url(self.database.url)}"]
        channels = self.channels
        if channels.file:
            lines.append(f"channel file: inbox {channels.file.inbox}, outbox {channels.file.outbox}")
        if channels.fhir:
            start = channels.fhir.poll_start
            since = "first start" if start == "first-start" else start.isoformat()
            lines.append(
                f"channel fhir: {channels.fhir.base_url} (auth {channels.fhir.auth.kind}); polls courses changed since "
                f"{since}"
            )
        if channels.mllp:
            tls = "tls" if channels.mllp.tls else "plain"
            lines.append(f"channel mllp: {channels.mllp.host}:{channels.mllp.port} ({tls}, {channels.mllp.encoding})")
        if not (channels.file or channels.fhir or channels.mllp):
            lines.append("channels: none configured")
        model = self.model
        where = {"local": str(model.base_dir), "openai": str(model.base_url), "template": "no model"}[model.backend]
        lines.append(f"model: {model.backend} ({where})")
        if model.adapter_dir is not None and model.max_lora_rank is not None:
            lines.append(f"adapter LoRA rank {model.adapter_rank()} <= server max_lora_rank {model.max_lora_rank}")
        lines.append(
            f"scheduler: poll every {self.scheduler.poll_interval_s:g} s, "
            f"EHR follow every {self.scheduler.follow_interval_s:g} s, backfill {self.scheduler.backfill_cron}"
        )
        lines.append(f"web: {self.web.host}:{self.web.port}")
        return lines


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _dotted(loc: tuple[int | str, ...]) -> str:
    # Drop the discriminator tags pydantic puts into union locations ("auth.basic.password" -> "auth.password").
    parts = [
        str(p) for p in loc if p not in ("none", "basic", "bearer", "smart-backend", "function-after[_files_exist()]")
    ]
    return ".".join(parts)


# Keys that once were accepted but never took effect, with the key that does.
REPLACED_KEYS = {"channels.fhir.poll_interval_s": "scheduler.poll_interval_s"}


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem as one line with its dotted path; the input value is left out (it may be a secret)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = _dotted(error["loc"])
    if error["type"] == "extra_forbidden":
        instead = REPLACED_KEYS.get(where)
        return f"unknown key {where}" + (f" (it has no effect; use {instead})" if instead else "")
    if error["type"] == "missing":
        return f"{where}: required"
    message = error["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


def load_settings(path: Path | None = None) -> Settings:
    """Read ``path`` (YAML; None for defaults and the environment only) and validate everything.

    Raises:
        ConfigError: the file is missing or not YAML, or a setting is wrong; the message is one line.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path} is not valid YAML{at}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded
    token = _yaml_data.set(data)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc
    finally:
        _yaml_data.reset(token)
