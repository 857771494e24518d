"""The presence settings of ``parley serve``: ``presence-policy`` (ask|open) and
``notifier-202``, in the TOML file and through ``build_config``, and what they make of the
presence agent's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.apps.config import ConfigError, build_config, load_file
from parley.apps.server import presence_config
from parley.services.presence import Policy, PresenceConfig


def test_defaults_ask_and_200() -> None:
    config = build_config({}, {})
    assert (config.presence_policy, config.notifier_202) == ("ask", False)
    presence = presence_config(config)
    assert (presence.policy, presence.notifier_202) == (Policy.ASK, False)


def test_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "parley.toml"
    path.write_text('presence-policy = "open"\nnotifier-202 = true\n')
    config = build_config(load_file(path), {})
    # The server's settings win over the injected base; the timings are kept.
    presence = presence_config(config, PresenceConfig(min_notify_interval=0.1))
    assert (presence.policy, presence.notifier_202) == (Policy.OPEN, True)
    assert presence.min_notify_interval == 0.1


@pytest.mark.parametrize(
    "settings",
    [{"presence-policy": "everyone"}, {"notifier-202": "yes"}],
)
def test_bad_values_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        build_config(settings, {})
