"""``parley serve`` settings from a file and flags: the ``workers`` setting."""

from __future__ import annotations

import pytest

from parley.apps.config import ConfigError, build_config


def test_one_process_unless_told() -> None:
    assert build_config({}, {}).workers == 1
    assert build_config({"workers": 2}, {}).workers == 2
    assert build_config({"workers": 2}, {"workers": 3}).workers == 3  # flags win


@pytest.mark.parametrize("value", [0, 65, -1, "two", 1.5, True])
def test_a_workers_value_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="workers"):
        build_config({"workers": value}, {})


def test_a_zero_flag_is_judged_not_ignored() -> None:
    with pytest.raises(ConfigError, match="workers"):
        build_config({}, {"workers": 0})
