"""The command line with the ``network`` key: the adapter it names, and its own section, are
checked before anything starts; a bad value exits 2 naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.service.test_cli import example_config, run_cli


def ready_config(**extra: Any) -> dict[str, Any]:
    raw = example_config(as_token="a" * 20, hs_token="b" * 20)
    raw.update(extra)
    return raw


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"network": "nosuchnet"}, "network: no adapter 'nosuchnet' is installed"),
        ({"network": "appservice"}, "network: 'appservice' is a section of the bridge"),
        ({"wechat": {"uos": "yes"}}, "wechat.uos: expected true or false"),
        ({"network": "wechat", "wechat": {"base_url": "ftp://x"}}, "wechat.base_url:"),
    ],
)
def test_a_bad_network_exits_2_naming_the_key(
    tmp_path: Path, extra: dict[str, Any], named: str
) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(ready_config(**extra)))

    result = run_cli("-c", config_path)

    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "chatbridge.db").exists()  # refused before the store was opened
