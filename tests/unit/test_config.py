"""Settings: TOML file, MASH_* overrides, durations, and refusals with one clear line."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mash_hub.config import (
    DEVELOPMENT_SECRET_KEY,
    ConfigError,
    Duration,
    MetricsSettings,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]


def test_defaults_match_the_documented_timescales():
    settings = load_settings(None, {})
    assert settings.timescales.decision.red == Duration(4 * 3600, True, "4 working hours")
    assert settings.timescales.decision.green.seconds == 72 * 3600
    assert not settings.timescales.decision.green.working
    assert settings.timescales.response.amber.working
    assert settings.session.idle_timeout.seconds == 15 * 60
    assert settings.session.absolute_timeout.seconds == 12 * 3600
    assert settings.login.max_failures == 10
    assert settings.api.token_lifetime.seconds == 300


@pytest.mark.parametrize(
    ("text", "seconds", "working"),
    [
        ("4 working hours", 14400, True),
        ("72 hours", 259200, False),
        ("30 minutes", 1800, False),
        ("10 seconds", 10, False),
        ("1 hour", 3600, False),
        ("90 working minutes", 5400, True),
        ("2 days", 172800, False),
    ],
)
def test_duration_forms(text, seconds, working):
    duration = Duration.parse(text)
    assert (duration.seconds, duration.working) == (seconds, working)


@pytest.mark.parametrize(
    "text", ["", "four hours", "4", "4 fortnights", "-1 hours", "2 working days"]
)
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        Duration.parse(text)


def test_environment_overrides_nested_keys():
    settings = load_settings(
        None,
        {
            "MASH_TIMESCALES__RESPONSE__AMBER": "10 seconds",
            "MASH_LOGIN__MAX_FAILURES": "5",
            "MASH_SESSION__COOKIE_SECURE": "true",
            "MASH_CALENDAR__WORKING_DAYS": "mon,tue",
        },
    )
    assert settings.timescales.response.amber == Duration(10, False, "10 seconds")
    assert settings.login.max_failures == 5
    assert settings.session.cookie_secure is True
    assert settings.calendar.working_days == ("mon", "tue")


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[login]\nmax_failures = 7\n[database]\nurl = "sqlite:///x.db"\n')
    settings = load_settings(path, {"MASH_LOGIN__MAX_FAILURES": "3"})
    assert settings.login.max_failures == 3
    assert settings.database.url == "sqlite:///x.db"


def test_settings_are_frozen():
    settings = load_settings(None, {})
    with pytest.raises(AttributeError):
        settings.login.max_failures = 99  # type: ignore[misc]


def test_wrong_type_names_file_line_and_key(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[app]\nmode = "development"\n\n[login]\n# comment\nmax_failures = "ten"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(caught.value).startswith(f"{path}:6: [login] max_failures: expected a whole number")


def test_bad_duration_names_file_line_and_key(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[timescales.decision]\nred = "soon"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(caught.value).startswith(f"{path}:2: [timescales.decision] red: expected a duration")


def test_toml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[app]\nmode = "development\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(path) in str(caught.value)
    assert "line 2" in str(caught.value)


def test_unknown_key_is_refused(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text("[login]\nmax_failure = 3\n")
    with pytest.raises(ConfigError, match=r":2: \[login\] max_failure: unknown setting"):
        load_settings(path, {})
    with pytest.raises(ConfigError, match="MASH_LOGIN__MAX_FAILUR"):
        load_settings(None, {"MASH_LOGIN__MAX_FAILUR": "3"})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"MASH_LOGIN__MAX_FAILURES \(environment\)"):
        load_settings(None, {"MASH_LOGIN__MAX_FAILURES": "many"})


def _production(**extra: str) -> dict[str, str]:
    return {
        "MASH_APP__MODE": "production",
        "MASH_APP__PUBLIC_URL": "https://mash.example",
        "MASH_APP__SECRET_KEY": "s" * 40,
        "MASH_KEYS__MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        **extra,
    }


def test_production_accepts_real_secrets():
    assert load_settings(None, _production()).app.production


def test_production_refuses_the_default_secret_key():
    with pytest.raises(ConfigError, match="secret key"):
        load_settings(None, _production(MASH_APP__SECRET_KEY=DEVELOPMENT_SECRET_KEY))
    with pytest.raises(ConfigError, match="secret key"):
        load_settings(None, _production(MASH_APP__SECRET_KEY=""))


def test_production_refuses_a_missing_or_development_master_key():
    env = _production()
    del env["MASH_KEYS__MASTER_KEY"]
    with pytest.raises(ConfigError, match="no master key"):
        load_settings(None, env)
    from mash_hub.config import DEVELOPMENT_MASTER_KEY

    with pytest.raises(ConfigError, match="development master key"):
        load_settings(None, _production(MASH_KEYS__MASTER_KEY=DEVELOPMENT_MASTER_KEY))


def test_master_key_from_a_key_file(tmp_path):
    key = os.urandom(32)
    key_file = tmp_path / "master.key"
    key_file.write_text(base64.b64encode(key).decode() + "\n")
    env = _production(MASH_KEYS__MASTER_KEY_FILE=str(key_file))
    del env["MASH_KEYS__MASTER_KEY"]
    assert load_settings(None, env).master_key_bytes() == key


def test_example_config_parses_and_documents_every_key():
    """config.example.toml must load and name every setting the hub has."""
    import dataclasses
    import typing

    from mash_hub.config import Settings

    example = REPO / "config.example.toml"
    settings = load_settings(example, {})
    assert settings.app.mode == "development"
    text = example.read_text()

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            target = hints[field.name]
            if field.name == "source":
                continue
            if dataclasses.is_dataclass(target) and target is not Duration:
                yield from walk(target, (*prefix, field.name))
            else:
                yield (*prefix, field.name)

    for keys in walk(Settings, ()):
        section = "[" + ".".join(keys[:-1]) + "]"
        header = f"\n{section}\n"
        assert header in text, section
        body = text.split(header, 1)[1].split("\n[", 1)[0]
        assert f"\n{keys[-1]} = " in body, keys


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text("[login]\nmax_failures = true\n")
    result = subprocess.run(
        [sys.executable, "-m", "mash_hub", "--config", str(path), "init-db"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{path}:2: [login] max_failures" in lines[0]


def test_notifications_channel_follows_what_is_configured():
    assert load_settings(None, {}).notifications.chosen_channel() == "log"
    smtp = load_settings(None, {"MASH_NOTIFICATIONS__SMTP_URL": "smtp://127.0.0.1:2525"})
    assert smtp.notifications.chosen_channel() == "smtp"
    notify = load_settings(None, {"MASH_NOTIFICATIONS__NOTIFY_API_KEY": "k-" + "0" * 73})
    assert notify.notifications.chosen_channel() == "notify"
    mailboxes = load_settings(
        None, {"MASH_NOTIFICATIONS__MAILBOXES__HEALTH": "mash-health@nhs.example"}
    ).notifications.mailboxes
    assert mailboxes == {"health": "mash-health@nhs.example"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MASH_NOTIFICATIONS__CHANNEL": "pigeon"}, "channel"),
        ({"MASH_NOTIFICATIONS__SMTP_URL": "http://mail.example"}, "smtp_url"),
        ({"MASH_NOTIFICATIONS__CHANNEL": "smtp"}, "smtp_url"),
        ({"MASH_NOTIFICATIONS__CHANNEL": "notify"}, "notify_api_key"),
        ({"MASH_NOTIFICATIONS__MAILBOXES__NHS": "x@nhs.example"}, "nhs"),
        ({"MASH_NOTIFICATIONS__MAX_ATTEMPTS": "0"}, "max_attempts"),
    ],
)
def test_notifications_settings_are_checked(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(None, env)


def test_production_sends_mail_to_another_host_only_over_tls():
    with pytest.raises(ConfigError, match="TLS"):
        load_settings(
            None, _production(MASH_NOTIFICATIONS__SMTP_URL="smtp://relay.council.example")
        )
    for safe in (
        {"MASH_NOTIFICATIONS__SMTP_URL": "smtps://relay.council.example"},
        {
            "MASH_NOTIFICATIONS__SMTP_URL": "smtp://relay.council.example:587",
            "MASH_NOTIFICATIONS__SMTP_STARTTLS": "true",
        },
        {"MASH_NOTIFICATIONS__SMTP_URL": "smtp://127.0.0.1:25"},
    ):
        assert load_settings(None, _production(**safe)).notifications.chosen_channel() == "smtp"


def test_referral_receivers_are_outcomes_and_receiving_agencies(tmp_path):
    """[referrals] receivers maps decision outcomes to a receiving (non-core) agency or
    "none"; anything else is refused at start with the line it is on."""
    from mash_hub.config import DECISION_OUTCOMES as CONFIG_OUTCOMES
    from mash_hub.contacts.models import DECISION_OUTCOMES

    assert CONFIG_OUTCOMES == DECISION_OUTCOMES  # the config's copy is kept in step
    settings = load_settings(environ={})
    assert settings.referrals.receiver_for("early_help") == "earlyhelp"
    assert settings.referrals.receiver_for("signpost") is None
    assert settings.referrals.receiver_for("no_further_action") is None
    for bad, message in (
        ('early_help = "csc"', "expected a receiving agency"),
        ('early_help = "nobody"', "expected a receiving agency"),
        ('stepping = "earlyhelp"', "expected one of strategy_discussion"),
    ):
        path = tmp_path / "hub.toml"
        path.write_text(f"[referrals.receivers]\n{bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(path, environ={})


def test_the_workers_counts_stay_off_the_instances_disk(tmp_path: Path) -> None:
    """A full data disk must not kill workers through their memory-mapped counts (fault
    review, scenario 10): by default they live in memory, a folder per instance."""
    settings = MetricsSettings()
    one = settings.directory_for(str(tmp_path / "one"))
    shm = Path("/dev/shm")  # noqa: S108 - where the hub is expected to put them
    if shm.is_dir():
        assert one.parent == shm
        assert one != settings.directory_for(str(tmp_path / "two"))
        assert one == settings.directory_for(str(tmp_path / "one"))
    else:
        assert one == tmp_path / "one" / "metrics"
    assert MetricsSettings(directory=str(tmp_path / "m")).directory_for("x") == tmp_path / "m"
