"""The file of ``login-matrix`` access tokens: 0600 under any umask, atomic, never logged."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from adapters.matrix.puppet_tokens import TokenFile
from adapters.matrix.types import UserId

pytestmark = pytest.mark.asyncio

ALICE = UserId("@alice:example.org")
BOB = UserId("@bob:example.org")


async def test_tokens_survive_a_restart_in_a_0600_file_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "chatbridge.double-puppets.json"
    old = os.umask(0o022)
    try:
        tokens = TokenFile(path)
        await tokens.put(ALICE, "syt_alice_token")
        await tokens.put(BOB, "syt_bob_token")
    finally:
        os.umask(old)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left
    again = TokenFile(path)
    assert (again.get(ALICE), again.get(BOB)) == ("syt_alice_token", "syt_bob_token")

    assert await again.forget(ALICE, "an older token") is False  # only the token that died
    assert await again.forget(ALICE) is True
    assert await again.forget(ALICE) is False
    assert TokenFile(path).users == frozenset({BOB})


@pytest.mark.parametrize(
    "content", [b"{not json", b'["a list"]', b'{"tokens": 3}', b"\xff\xfe", b""]
)
async def test_a_malformed_file_is_ignored_and_its_content_never_logged(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content + b"syt_secret_in_a_broken_file")
    caplog.set_level(logging.DEBUG)

    tokens = TokenFile(path)

    assert tokens.users == frozenset()
    assert "malformed" in caplog.text and "syt_secret" not in caplog.text
    await tokens.put(ALICE, "syt_new")  # users can log in again: the file is rewritten
    assert TokenFile(path).get(ALICE) == "syt_new"
