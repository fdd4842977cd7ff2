"""Settings: one TOML file (named by MASH_CONFIG) plus MASH_* environment overrides.

Parsed once into frozen dataclasses. Anything wrong stops the start with one line that
names the file, the line and the key, so an operator can fix it without reading a trace.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mash_hub.agencies import AGENCIES, AGENCY_CODES
from mash_hub.authz.permissions import Role

ENV_PREFIX = "MASH_"
CONFIG_ENV = "MASH_CONFIG"

# Published in the repository on purpose: good enough for a laptop, refused in production.
DEVELOPMENT_SECRET_KEY = "development-only-not-secret"  # noqa: S105 - refused in production
# policies/ beside the mash_hub package (the repository layout).
REPO_POLICIES = Path(__file__).resolve().parents[1] / "policies"
DEVELOPMENT_MASTER_KEY = base64.b64encode(b"development-only-master-key-0000").decode()
DEVELOPMENT_AUDIT_SIGNING_KEY = base64.b64encode(b"development-only-audit-signing-k").decode()


class ConfigError(Exception):
    """A setting is missing, malformed or unsafe. str(err) is the one line to show."""


_DURATION_RE = re.compile(
    r"^\s*(?P<n>\d+)\s+(?P<working>working\s+)?(?P<unit>second|minute|hour|day)s?\s*$"
)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Duration:
    """ "72 hours" is elapsed time; "4 working hours" counts only the working calendar."""

    seconds: int
    working: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION_RE.match(text)
        if not match:
            raise ValueError(
                f'expected a duration like "30 minutes", "72 hours" or "4 working hours", '
                f"got {text!r}"
            )
        unit = match["unit"]
        working = bool(match["working"])
        if working and unit not in ("hour", "minute"):
            raise ValueError(f"working time is counted in hours or minutes, got {text!r}")
        return cls(int(match["n"]) * _UNIT_SECONDS[unit], working, text.strip())

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return self.text


def _d(text: str) -> Duration:
    return Duration.parse(text)


@dataclass(frozen=True)
class AppSettings:
    mode: str = "development"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    instance_path: str = "instance"
    # The hub's address as people and agency systems reach it, e.g. "https://mash.example".
    public_url: str = ""
    # How many reverse proxies stand in front of the hub (nginx: 1). Their X-Forwarded-For
    # and X-Forwarded-Proto name the client and the scheme; with 0 (the default) those
    # headers are ignored, as anyone could send them.
    trusted_proxies: int = 0
    # The day the hub started taking contacts (YYYY-MM-DD): a contact received earlier is a
    # typing slip (usability review D8: 01/01/1900 became MASH-1900-000001, overdue for
    # 46,358 days), and is refused.
    go_live: str = "2025-01-01"
    # The organisation that runs the hub, as reports to the ICO name it.
    organisation: str = "Multi-Agency Safeguarding Hub (MASH)"

    @property
    def production(self) -> bool:
        return self.mode == "production"

    @property
    def go_live_date(self) -> date:
        return date.fromisoformat(self.go_live)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///instance/mash.db"
    echo: bool = False


@dataclass(frozen=True)
class KeysSettings:
    master_key: str = ""
    master_key_file: str = ""


@dataclass(frozen=True)
class SessionSettings:
    idle_timeout: Duration = field(default_factory=lambda: _d("15 minutes"))
    absolute_timeout: Duration = field(default_factory=lambda: _d("12 hours"))
    cookie_secure: bool = False


@dataclass(frozen=True)
class LoginSettings:
    # Wrong fresh security codes (step-up) a signed-in person may enter within the window.
    max_failures: int = 10
    failure_window: Duration = field(default_factory=lambda: _d("5 minutes"))
    mfa_step_timeout: Duration = field(default_factory=lambda: _d("5 minutes"))
    totp_issuer: str = "MASH Hub"
    # Sign-in throttling (mash_hub.identity.throttle), checked before any password hashing.
    address_failures: int = 10
    address_window: Duration = field(default_factory=lambda: _d("1 minute"))
    account_address_failures: int = 5
    account_failures: int = 20
    first_delay: Duration = field(default_factory=lambda: _d("30 seconds"))
    longest_delay: Duration = field(default_factory=lambda: _d("15 minutes"))
    failures_remembered: Duration = field(default_factory=lambda: _d("24 hours"))
    known_address: Duration = field(default_factory=lambda: _d("30 days"))


@dataclass(frozen=True)
class PasswordSettings:
    min_length: int = 8
    max_length: int = 128
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 4


@dataclass(frozen=True)
class ApiSettings:
    token_lifetime: Duration = field(default_factory=lambda: _d("5 minutes"))
    max_body_bytes: int = 1048576
    page_limit_default: int = 100
    page_limit_max: int = 1000
    # Calls each client may make per window, counted in the database across every worker.
    rate_limit: int = 600
    rate_limit_window: Duration = field(default_factory=lambda: _d("1 minute"))
    # Access tokens each client may be issued per minute (each one is a stored row).
    tokens_per_minute: int = 30


@dataclass(frozen=True)
class FirewallSettings:
    break_glass_window: Duration = field(default_factory=lambda: _d("60 minutes"))
    # Where the agreements register and the Cedar rules are read from, once, at start.
    policies_dir: str = ""

    def policies_path(self) -> Path:
        return Path(self.policies_dir) if self.policies_dir else REPO_POLICIES


@dataclass(frozen=True)
class ScreeningSettings:
    repeat_contact_window: Duration = field(default_factory=lambda: _d("365 days"))
    closed_case_window: Duration = field(default_factory=lambda: _d("90 days"))
    # A register candidate scoring at least this (per cent) warns on intake, before a link.
    repeat_match_percent: int = 90


@dataclass(frozen=True)
class DecisionTimescales:
    red: Duration = field(default_factory=lambda: _d("4 working hours"))
    amber: Duration = field(default_factory=lambda: _d("24 working hours"))
    green: Duration = field(default_factory=lambda: _d("72 hours"))


@dataclass(frozen=True)
class ResponseTimescales:
    red: Duration = field(default_factory=lambda: _d("2 hours"))
    amber: Duration = field(default_factory=lambda: _d("6 working hours"))


@dataclass(frozen=True)
class TimescalesSettings:
    decision: DecisionTimescales = field(default_factory=DecisionTimescales)
    response: ResponseTimescales = field(default_factory=ResponseTimescales)


@dataclass(frozen=True)
class CalendarSettings:
    timezone: str = "Europe/London"
    working_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    day_starts: str = "09:00"
    day_ends: str = "17:00"
    red_counts_outside_working_hours: bool = True
    bank_holidays: tuple[str, ...] = (
        "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25",
        "2026-08-31", "2026-12-25", "2026-12-28",
        "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31",
        "2027-08-30", "2027-12-27", "2027-12-28",
    )  # fmt: skip


@dataclass(frozen=True)
class AuditSettings:
    # How often the scheduler's sealer links new events into the chain.
    seal_interval: Duration = field(default_factory=lambda: _d("5 seconds"))
    checkpoint_file: str = ""
    signing_key: str = ""
    signing_key_file: str = ""

    def checkpoint_path(self, instance_path: str) -> Path:
        return Path(self.checkpoint_file or Path(instance_path) / "audit-checkpoints.jsonl")


@dataclass(frozen=True)
class RequestsSettings:
    # An open request this close to its due time is escalated to the MASH manager and the
    # agency's lead; one that runs out unanswered is escalated again as overdue.
    escalate_before_due: Duration = field(default_factory=lambda: _d("30 minutes"))


# The outcomes a MASH decision may have (mash_hub.contacts.models.DECISION_OUTCOMES, which
# the configuration cannot import; a unit test keeps the two the same).
DECISION_OUTCOMES = (
    "strategy_discussion",
    "s17_assessment",
    "early_help",
    "signpost",
    "no_further_action",
    "pass_to_allocated_worker",
)
NO_RECEIVER = "none"


@dataclass(frozen=True)
class ReferralsSettings:
    """Onward referrals (step-down): which service receives each approved outcome."""

    # Outcome -> the agency code of the receiving service, or "none": an approved outcome
    # with a receiver makes one referral to it. Outcomes not named refer nowhere.
    receivers: dict[str, str] = field(
        default_factory=lambda: {"early_help": "earlyhelp", "signpost": NO_RECEIVER}
    )
    # The receiving service accepts or declines by then (3 working days of 8 hours).
    response_time: Duration = field(default_factory=lambda: _d("24 working hours"))
    # How long after accepting a referral the service may still read the family's details.
    read_after_acceptance: Duration = field(default_factory=lambda: _d("30 days"))

    def receiver_for(self, outcome: str) -> str | None:
        """The receiving agency's code for an approved outcome, or None."""
        receiver = self.receivers.get(outcome, NO_RECEIVER)
        return None if receiver == NO_RECEIVER else receiver


@dataclass(frozen=True)
class SchedulerSettings:
    # How often the scheduler's bookkeeping jobs run (expiry, escalation, withdrawal).
    interval: Duration = field(default_factory=lambda: _d("15 seconds"))
    # SQLite only: the lock file that makes one scheduler the leader ("" = instance dir).
    lock_file: str = ""


@dataclass(frozen=True)
class NotificationsSettings:
    """How messages leave the hub (mash_hub.outbox): email by SMTP or GOV.UK Notify."""

    # "smtp", "notify" or "log" (written to the log only, for development); empty chooses
    # Notify when notify_api_key is set, else SMTP when smtp_url is set, else the log.
    channel: str = ""
    # smtp://host:port (plain, or STARTTLS with smtp_starttls) or smtps://host:port (TLS
    # from the start); credentials in the URL (smtp://user:pass@host) or below.
    smtp_url: str = ""
    smtp_starttls: bool = False
    # A PEM file of the certificate authorities to trust for the relay's TLS certificate
    # (e.g. a council's own CA); empty: the system's.
    smtp_ca_file: str = ""
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout: Duration = field(default_factory=lambda: _d("30 seconds"))
    from_address: str = "mash-hub@localhost"
    # GOV.UK Notify: the API key (from the environment), and a template id per kind, the
    # kind's dots as underscores (request_sent = "...").
    notify_api_key: str = ""
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    templates: dict[str, str] = field(default_factory=dict)
    # Each agency's shared MASH mailbox, by agency code: it receives its agency's requests.
    mailboxes: dict[str, str] = field(default_factory=dict)
    # The hub's address for links in messages; empty: [app] public_url.
    base_url: str = ""
    # Delivery: a failed message is tried again after first_retry, doubling up to
    # longest_retry, and is dead (listed for an administrator) after max_attempts.
    max_attempts: int = 8
    first_retry: Duration = field(default_factory=lambda: _d("30 seconds"))
    longest_retry: Duration = field(default_factory=lambda: _d("1 hour"))
    # How long a claimed message is held for its sender; after that another cycle may
    # send it again, under the same idempotency key.
    lease: Duration = field(default_factory=lambda: _d("2 minutes"))
    batch_size: int = 100
    # Messages recorded as sent per commit: more is faster, but a process that dies
    # re-sends (under the same Message-ID) up to this many accepted, unrecorded messages.
    record_every: int = 1
    interval: Duration = field(default_factory=lambda: _d("5 seconds"))
    # Webhooks to agency systems: a callback URL is accepted only when it starts with one
    # of these (e.g. "https://ehm.council.example/mash/"); empty accepts none. https://
    # only, save for this machine (http://127.0.0.1:PORT/...) in development.
    webhook_allow: tuple[str, ...] = ()
    webhook_timeout: Duration = field(default_factory=lambda: _d("10 seconds"))
    # How a referrer told the outcome by email can reach the MASH to hear more (a phone
    # number or an address); the email names it, and never the outcome itself.
    referrer_reply_to: str = ""

    def link_base(self, public_url: str) -> str:
        return (self.base_url or public_url or "http://127.0.0.1:5000").rstrip("/")

    def chosen_channel(self) -> str:
        if self.channel:
            return self.channel
        if self.notify_api_key:
            return "notify"
        return "smtp" if self.smtp_url else "log"


NOTIFICATION_CHANNELS = ("smtp", "notify", "log")


@dataclass(frozen=True)
class MetricsSettings:
    # The bearer token a Prometheus scraper sends to GET /metrics (at least 32 characters,
    # from the environment: MASH_METRICS__TOKEN). Empty: /metrics is off (404).
    token: str = ""
    # Where each worker of `mash-hub serve` keeps its counts, in memory-mapped files. Empty:
    # a folder of this instance's own in /dev/shm (memory), or <instance_path>/metrics
    # where there is no /dev/shm. Keep it off the database's disk: a worker that touches a
    # mapped page of a full filesystem is killed (SIGBUS), so a full disk would stop every
    # worker rather than fail its calls (fault review, scenario 10).
    directory: str = ""

    def directory_for(self, instance_path: str) -> Path:
        if self.directory:
            return Path(self.directory)
        shm = Path("/dev/shm")  # noqa: S108 - a folder of our own, made 0700
        if shm.is_dir() and os.access(shm, os.W_OK):
            instance = str(Path(instance_path).resolve()).encode()
            return shm / f"mash-hub-metrics-{hashlib.sha256(instance).hexdigest()[:16]}"
        return Path(instance_path) / "metrics"


METRICS_TOKEN_MIN = 32


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    json: bool = True


@dataclass(frozen=True)
class OidcProviderSettings:
    """One agency identity provider for "Sign in with <display_name>"."""

    display_name: str = ""
    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    # The hub agency every account from this provider belongs to.
    agency: str = ""
    # The ID token claim listing the person's groups, and which hub role each group gives.
    groups_claim: str = "groups"
    group_roles: dict[str, str] = field(default_factory=dict)
    # MFA evidence: the sign-in is accepted only if "amr" holds one of mfa_amr or "acr"
    # equals one of mfa_acr.
    mfa_amr: tuple[str, ...] = ("mfa",)
    mfa_acr: tuple[str, ...] = ()
    # ID token signature algorithms accepted ("none" and HMAC never are).
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256")


@dataclass(frozen=True)
class OidcSettings:
    providers: dict[str, OidcProviderSettings] = field(default_factory=dict)
    # Clock skew allowed on the ID token's exp and iat.
    leeway: Duration = field(default_factory=lambda: _d("60 seconds"))


@dataclass(frozen=True)
class Settings:
    app: AppSettings = field(default_factory=AppSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    keys: KeysSettings = field(default_factory=KeysSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    login: LoginSettings = field(default_factory=LoginSettings)
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    firewall: FirewallSettings = field(default_factory=FirewallSettings)
    screening: ScreeningSettings = field(default_factory=ScreeningSettings)
    timescales: TimescalesSettings = field(default_factory=TimescalesSettings)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    requests: RequestsSettings = field(default_factory=RequestsSettings)
    referrals: ReferralsSettings = field(default_factory=ReferralsSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    oidc: OidcSettings = field(default_factory=OidcSettings)
    notifications: NotificationsSettings = field(default_factory=NotificationsSettings)
    source: str = "(defaults)"

    def master_key_bytes(self) -> bytes:
        """The 32-byte master key, from the environment/config or a key file."""
        text = self.keys.master_key
        if not text and self.keys.master_key_file:
            text = Path(self.keys.master_key_file).read_text().strip()
        if not text:
            if self.app.production:
                raise ConfigError("[keys] master_key: no master key configured")
            text = DEVELOPMENT_MASTER_KEY
        key = base64.b64decode(text)
        if len(key) != 32:
            raise ConfigError("[keys] master_key: must be 32 bytes, base64-encoded")
        return key

    def audit_signing_seed(self) -> bytes:
        """The 32-byte Ed25519 seed that signs audit checkpoints (environment/config or a
        key file). Production refuses a missing or development key when it is needed."""
        text = self.audit.signing_key
        if not text and self.audit.signing_key_file:
            text = Path(self.audit.signing_key_file).read_text().strip()
        if not text:
            if self.app.production:
                raise ConfigError("[audit] signing_key: no audit signing key configured")
            text = DEVELOPMENT_AUDIT_SIGNING_KEY
        if self.app.production and text == DEVELOPMENT_AUDIT_SIGNING_KEY:
            raise ConfigError("[audit] signing_key: production refuses the development key")
        try:
            seed = base64.b64decode(text, validate=True)
        except ValueError as err:
            raise ConfigError("[audit] signing_key: not base64") from err
        if len(seed) != 32:
            raise ConfigError("[audit] signing_key: must be 32 bytes, base64-encoded")
        return seed


_MODES = ("development", "test", "production")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    read_keys: bool = True,
) -> Settings:
    """Read the TOML file (argument, else $MASH_CONFIG, else defaults) and the overrides.

    The master key is read too, and refused if it cannot be, unless `read_keys` is false:
    `mash-hub doctor` reads it as one of its checks, so that a missing key file is one
    fault among the others rather than the end of the run."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV) or None
    raw: dict[str, Any] = {}
    lines: list[str] = []
    source = "(defaults)"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{source}: cannot read the config file ({err.strerror})") from err
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{source}: {err}") from err
        lines = text.splitlines()
    where = _Locator(source, lines)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        _set_path(raw, keys, _EnvValue(name, value))
    settings: Settings = _build(Settings, raw, (), where)
    settings = dataclasses.replace(settings, source=source)
    _check(settings, where, read_keys=read_keys)
    return settings


@dataclass(frozen=True)
class _EnvValue:
    name: str
    text: str


class _Locator:
    """Finds the line of a key in the TOML text, for error messages."""

    def __init__(self, source: str, lines: list[str]) -> None:
        self.source = source
        self.lines = lines

    def describe(self, keys: tuple[str, ...], value: object = None) -> str:
        dotted = ".".join(keys)
        if isinstance(value, _EnvValue):
            return f"{value.name} (environment) [{dotted}]"
        line = self._line_of(keys)
        place = f"{self.source}:{line}" if line else self.source
        return f"{place}: [{'.'.join(keys[:-1])}] {keys[-1]}" if len(keys) > 1 else place

    def _line_of(self, keys: tuple[str, ...]) -> int | None:
        section: tuple[str, ...] = ()
        key_re = re.compile(rf"^\s*{re.escape(keys[-1])}\s*=")
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            if stripped.startswith("[") and not stripped.startswith("[["):
                section = tuple(p.strip() for p in stripped.strip("[]").split("."))
            elif section == keys[:-1] and key_re.match(line):
                return number
        return None


def _set_path(raw: dict[str, Any], keys: list[str], value: object) -> None:
    node = raw
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def _build(cls: type[Any], raw: object, prefix: tuple[str, ...], where: _Locator) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where.describe(prefix, raw)}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where.describe((*prefix, key), raw[key])}: unknown setting")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        keys = (*prefix, f.name)
        target = hints[f.name]
        if target is not Duration and dataclasses.is_dataclass(target):
            values[f.name] = _build(typing.cast(type[Any], target), raw[f.name], keys, where)
        elif typing.get_origin(target) is dict:
            values[f.name] = _build_table(typing.get_args(target)[1], raw[f.name], keys, where)
        else:
            values[f.name] = _convert(target, raw[f.name], keys, where)
    return cls(**values)


def _build_table(
    item: Any, raw: object, prefix: tuple[str, ...], where: _Locator
) -> dict[str, Any]:
    """A table of named entries, e.g. [oidc.providers.police] or group = "role" lines."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where.describe(prefix, raw)}: expected a table")
    built: dict[str, Any] = {}
    for name, value in raw.items():
        keys = (*prefix, name)
        if dataclasses.is_dataclass(item):
            built[name] = _build(typing.cast(type[Any], item), value, keys, where)
        else:
            built[name] = _convert(item, value, keys, where)
    return built


def _convert(target: Any, value: object, keys: tuple[str, ...], where: _Locator) -> Any:
    from_env = isinstance(value, _EnvValue)
    text = value.text if isinstance(value, _EnvValue) else None
    try:
        if target is Duration:
            if not isinstance(text if from_env else value, str):
                raise ValueError('expected a duration in quotes, like "30 minutes"')
            return Duration.parse(typing.cast(str, text if from_env else value))
        if target is bool:
            if from_env:
                lowered = typing.cast(str, text).strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(f"expected true or false, got {text!r}")
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r}")
            return value
        if target is int:
            if from_env:
                return int(typing.cast(str, text))
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"expected a whole number, got {value!r}")
            return value
        if target is str:
            if from_env:
                return text
            if not isinstance(value, str):
                raise ValueError(f"expected text in quotes, got {value!r}")
            return value
        if typing.get_origin(target) is tuple:
            items: object
            if from_env:
                items = [p.strip() for p in typing.cast(str, text).split(",") if p.strip()]
            else:
                items = value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError("expected a list of text values")
            return tuple(items)
    except ValueError as err:
        raise ConfigError(f"{where.describe(keys, value)}: {err}") from err
    raise ConfigError(
        f"{where.describe(keys, value)}: unsupported setting type"
    )  # pragma: no cover


def _check(settings: Settings, where: _Locator, *, read_keys: bool = True) -> None:
    """Cross-field checks, and the refusal of unsafe production settings."""
    if not 50 <= settings.screening.repeat_match_percent <= 100:
        raise ConfigError(
            "[screening] repeat_match_percent must be between 50 and 100: below 50 a register "
            "candidate is more likely someone else"
        )
    app = settings.app
    if not 0 <= app.trusted_proxies <= 5:
        raise ConfigError(
            f"{where.describe(('app', 'trusted_proxies'))}: expected the number of proxies in "
            "front of the hub, 0 to 5"
        )
    if settings.metrics.token and len(settings.metrics.token) < METRICS_TOKEN_MIN:
        raise ConfigError(
            f"{where.describe(('metrics', 'token'))}: must be at least {METRICS_TOKEN_MIN} "
            "characters (or empty, to turn /metrics off)"
        )
    try:
        app.go_live_date  # noqa: B018 - read to check it
    except ValueError:
        raise ConfigError(
            f"{where.describe(('app', 'go_live'))}: expected a date like 2026-01-01, "
            f"got {app.go_live!r}"
        ) from None
    if app.mode not in _MODES:
        raise ConfigError(
            f"{where.describe(('app', 'mode'))}: expected one of {', '.join(_MODES)}, "
            f"got {app.mode!r}"
        )
    if settings.logging.level.upper() not in _LEVELS:
        raise ConfigError(f"{where.describe(('logging', 'level'))}: expected one of {_LEVELS}")
    if settings.passwords.min_length < 8 or settings.passwords.max_length < 64:
        raise ConfigError(
            f"{where.describe(('passwords', 'min_length'))}: passwords must allow 8 to at least "
            "64 characters"
        )
    if settings.api.rate_limit < 1 or settings.api.rate_limit_window.seconds < 1:
        raise ConfigError(
            f"{where.describe(('api', 'rate_limit'))}: the rate limit and its window must be "
            "at least 1"
        )
    for name, provider in settings.oidc.providers.items():
        _check_provider(name, provider, app.production, where)
    _check_notifications(settings.notifications, app.production, where)
    _check_referrals(settings.referrals, where)
    if app.public_url and not app.public_url.startswith(("https://", *_LOCAL_HOSTS)):
        raise ConfigError(f"{where.describe(('app', 'public_url'))}: expected an https:// URL")
    if app.production and settings.oidc.providers and not app.public_url.startswith("https://"):
        raise ConfigError(
            f"{where.describe(('app', 'public_url'))}: production sign-in with an identity "
            "provider needs the hub's https:// address, for its redirect URI"
        )
    if app.production:
        if (
            not app.secret_key
            or app.secret_key == DEVELOPMENT_SECRET_KEY
            or len(app.secret_key) < 32
        ):
            raise ConfigError(
                f"{where.describe(('app', 'secret_key'))}: production mode needs a secret key of "
                "at least 32 characters that is not the development default"
            )
        if read_keys:
            readable_master_key(settings)
        if not app.public_url.startswith("https://"):
            raise ConfigError(
                f"{where.describe(('app', 'public_url'))}: production mode needs the hub's "
                "https:// address: the token audience, redirect URIs and links are built from "
                "it, never from a request's Host"
            )
    elif read_keys:
        readable_master_key(settings)


def readable_master_key(settings: Settings) -> bytes:
    """The master key, refused if it cannot be read or if production would run on the
    development one."""
    try:
        key = settings.master_key_bytes()
    except (OSError, ValueError) as err:
        raise ConfigError(f"[keys] master_key: cannot be read ({err})") from err
    if settings.app.production and key == base64.b64decode(DEVELOPMENT_MASTER_KEY):
        raise ConfigError("[keys] master_key: production mode refuses the development master key")
    return key


_SAFE_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
_LOCAL_HOSTS = ("http://127.0.0.1:", "http://localhost:")


def _check_provider(
    name: str, provider: OidcProviderSettings, production: bool, where: _Locator
) -> None:
    def fail(key: str, problem: str) -> typing.NoReturn:
        raise ConfigError(f"{where.describe(('oidc', 'providers', name, key))}: {problem}")

    local = provider.issuer.startswith(_LOCAL_HOSTS) and not production
    if not (provider.issuer.startswith("https://") or local):
        fail("issuer", "expected the provider's https:// issuer URL")
    if not provider.client_id or not provider.client_secret:
        fail("client_id", "a provider needs a client_id and a client_secret")
    if provider.agency not in AGENCY_CODES:
        fail("agency", f"expected one of {', '.join(AGENCY_CODES)}, got {provider.agency!r}")
    if "openid" not in provider.scopes:
        fail("scopes", 'the scopes must include "openid"')
    if not provider.group_roles:
        fail("group_roles", "map at least one group to a role, or nobody can sign in")
    roles = {role.value for role in Role}
    for group, role in provider.group_roles.items():
        if role not in roles:
            fail("group_roles", f"group {group!r}: expected one of {', '.join(sorted(roles))}")
    if not provider.mfa_amr and not provider.mfa_acr:
        fail("mfa_amr", "name the amr or acr values that prove MFA; sign-in requires MFA")
    if not provider.algorithms or any(a not in _SAFE_ALGORITHMS for a in provider.algorithms):
        fail("algorithms", f"expected some of {', '.join(_SAFE_ALGORITHMS)}")


def _check_referrals(referrals: ReferralsSettings, where: _Locator) -> None:
    core = {info.code for info in AGENCIES if info.mash_core}
    receivers = [code for code in AGENCY_CODES if code not in core]
    for outcome, receiver in referrals.receivers.items():
        place = where.describe(("referrals", "receivers", outcome))
        if outcome not in DECISION_OUTCOMES:
            raise ConfigError(f"{place}: expected one of {', '.join(DECISION_OUTCOMES)}")
        if receiver != NO_RECEIVER and receiver not in receivers:
            raise ConfigError(
                f"{place}: expected a receiving agency ({', '.join(receivers)}) or "
                f'"{NO_RECEIVER}", got {receiver!r}'
            )
    for key in ("response_time", "read_after_acceptance"):
        if getattr(referrals, key).seconds < 1:
            raise ConfigError(f"{where.describe(('referrals', key))}: must be at least 1 second")


_SMTP_SCHEMES = ("smtp://", "smtps://")
_LOOPBACK_SMTP = ("smtp://127.0.0.1", "smtp://localhost", "smtp://[::1]")


def _check_notifications(
    notifications: NotificationsSettings, production: bool, where: _Locator
) -> None:
    def fail(key: str, problem: str) -> typing.NoReturn:
        raise ConfigError(f"{where.describe(('notifications', key))}: {problem}")

    if notifications.channel and notifications.channel not in NOTIFICATION_CHANNELS:
        fail("channel", f"expected one of {', '.join(NOTIFICATION_CHANNELS)}")
    url = notifications.smtp_url
    if url and not url.startswith(_SMTP_SCHEMES):
        fail("smtp_url", "expected smtp://host:port or smtps://host:port")
    if notifications.chosen_channel() == "smtp" and not url:
        fail("smtp_url", 'the "smtp" channel needs smtp_url')
    if notifications.chosen_channel() == "notify" and not notifications.notify_api_key:
        fail("notify_api_key", 'the "notify" channel needs notify_api_key')
    if (
        production
        and url.startswith("smtp://")
        and not notifications.smtp_starttls
        and not url.startswith(_LOOPBACK_SMTP)
    ):
        fail(
            "smtp_url",
            "production sends mail to another host only over TLS: use smtps:// or set "
            "smtp_starttls = true",
        )
    for code in notifications.mailboxes:
        if code not in AGENCY_CODES:
            raise ConfigError(
                f"{where.describe(('notifications', 'mailboxes', code))}: expected one of "
                f"{', '.join(AGENCY_CODES)}"
            )
    if min(notifications.max_attempts, notifications.batch_size, notifications.record_every) < 1:
        fail("max_attempts", "max_attempts, batch_size and record_every must be at least 1")
    if notifications.base_url and not notifications.base_url.startswith(
        ("https://", *_LOCAL_HOSTS)
    ):
        fail("base_url", "expected an https:// URL")
    for allowed in notifications.webhook_allow:
        if (
            not allowed.startswith(("https://", *_LOCAL_HOSTS))
            or "/" not in allowed.split("://", 1)[1]
        ):
            fail(
                "webhook_allow",
                f"{allowed!r}: expected https://host/path/ (http:// only for 127.0.0.1 or "
                "localhost), ending with the path the callbacks are under",
            )
        if production and allowed.startswith(_LOCAL_HOSTS):
            fail("webhook_allow", f"{allowed!r}: production calls agency systems over https")
