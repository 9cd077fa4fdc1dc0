"""How the bot reads a message: prefix, case, arguments, reply fallbacks."""

from __future__ import annotations

import pytest

from bridge.commands import ParsedCommand


@pytest.mark.parametrize(
    ("text", "is_direct", "expected"),
    [
        ("login", True, ParsedCommand("login")),
        ("  PING  ", True, ParsedCommand("ping")),
        ("!wechat Sync", True, ParsedCommand("sync")),
        ("!WeChat resolve id-1 2", False, ParsedCommand("resolve", ("id-1", "2"))),
        ("!wechat", False, ParsedCommand("help")),
        ("resolve 1 apart", True, ParsedCommand("resolve", ("1", "apart"))),
        ("> <@wechatbot:localhost> Not logged in\n\nlogin", True, ParsedCommand("login")),
    ],
)
def test_commands_are_recognised(text: str, is_direct: bool, expected: ParsedCommand) -> None:
    assert ParsedCommand.parse(text, is_direct=is_direct, prefix="!wechat") == expected


@pytest.mark.parametrize("text", ["ping", "hello everyone", "!wechatty ping", ""])
def test_text_outside_a_dm_without_the_prefix_is_not_for_the_bot(text: str) -> None:
    assert ParsedCommand.parse(text, is_direct=False, prefix="!wechat") is None


def test_an_empty_message_in_a_dm_is_no_command() -> None:
    assert ParsedCommand.parse("   ", is_direct=True, prefix="!wechat") is None
