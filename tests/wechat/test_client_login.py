"""The WeChat client's login against the simulator: QR, UOS, refusal, push login, resume."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.connection import ClientConfig
from adapters.wechat.client.errors import LoginCancelled, LoginRefused, NoSession, QRExpired
from adapters.wechat.client.http import HttpRetry
from adapters.wechat.client.qr import QRCode
from adapters.wechat.client.receive import SyncBatch
from adapters.wechat.client.results import LoginMethod
from adapters.wechat.client.types import UserName
from adapters.wechat.client.wire import LoginScanned

FAST = HttpRetry(attempts=3, wait=0.01, wait_max=0.05)


def config(base_url: str, tmp_path: Path | None = None, **kwargs: Any) -> ClientConfig:
    session = tmp_path / "wechat-session.json" if tmp_path else None
    return ClientConfig(
        base_url=base_url,
        session_path=session,
        long_poll_timeout=10,
        retry=FAST,
        rate_limit_wait=0.01,
        **kwargs,
    )


def scanner(simulator: Any, account: str, shown: list[QRCode] | None = None) -> Any:
    """An ``on_qr`` callback: the account's phone scans and confirms each QR shown."""

    async def on_qr(qr: QRCode) -> None:
        if shown is not None:
            shown.append(qr)
        await simulator.control.scan(account, qr.uuid)

    return on_qr


async def test_qr_login_reports_scan_then_logs_in(simulator: Any) -> None:
    account = await simulator.control.create_account("Alice")
    friend = await simulator.control.add_contact(account, "Bob", remark_name="Bobby")
    shown: list[QRCode] = []
    scans: list[LoginScanned] = []

    async def on_qr(qr: QRCode) -> None:
        shown.append(qr)
        await simulator.control.scan(account, qr.uuid, confirm=False)

    async def on_scanned(event: LoginScanned) -> None:
        scans.append(event)
        await simulator.control.scan(account, shown[-1].uuid)

    async with WeChatClient(config(simulator.base_url)) as client:
        info = await client.login(on_qr, on_scanned)
        assert info.method is LoginMethod.QR
        assert client.logged_in
        view = await simulator.control.session(account)
        assert info.user.user_name == view.self_name
        assert info.user.nick_name == "Alice"
        assert info.uin and client.uin == info.uin
        assert [c.user_name for c in info.contacts if c.remark_name == "Bobby"] == [
            view.user_names[friend]
        ]
    assert len(shown) == 1
    assert shown[0].content == f"https://login.weixin.qq.com/l/{shown[0].uuid}"
    assert shown[0].png().startswith(b"\x89PNG\r\n\x1a\n")
    assert "█" in shown[0].terminal()
    assert len(scans) == 1 and scans[0].avatar_jpeg()


async def test_expired_qr_is_replaced_and_cancel_is_reported(simulator: Any) -> None:
    account = await simulator.control.create_account("Carol")
    shown: list[QRCode] = []

    async def expire_first(qr: QRCode) -> None:
        shown.append(qr)
        if len(shown) == 1:
            await simulator.control.set_qr_code(400, qr.uuid)
        else:
            await simulator.control.scan(account, qr.uuid)

    async with WeChatClient(config(simulator.base_url)) as client:
        info = await client.login(expire_first)
        assert info.user.nick_name == "Carol"
    assert len(shown) == 2 and shown[0].uuid != shown[1].uuid

    async def cancel(qr: QRCode) -> None:
        await simulator.control.scan(account, qr.uuid, cancel=True)

    async with WeChatClient(config(simulator.base_url)) as client:
        with pytest.raises(LoginCancelled):
            await client.login(cancel)
        assert not client.logged_in

    async def never(qr: QRCode) -> None:
        await simulator.control.set_qr_code(400, qr.uuid)

    async with WeChatClient(config(simulator.base_url, max_qr_codes=2)) as client:
        with pytest.raises(QRExpired):
            await client.login(never)


async def test_refused_account_gets_login_refused(simulator: Any) -> None:
    account = await simulator.control.create_account("Dave", refuse_login=True)
    async with WeChatClient(config(simulator.base_url)) as client:
        with pytest.raises(LoginRefused) as caught:
            await client.login(scanner(simulator, account))
        assert "当前登录环境异常" in caught.value.message
        assert not client.logged_in
        with pytest.raises(NoSession):
            await client.send_text(UserName("filehelper"), "hi")


async def test_uos_mode_logs_in_where_plain_web_login_is_refused(simulator: Any) -> None:
    account = await simulator.control.create_account("Erin", require_uos=True)
    async with WeChatClient(config(simulator.base_url, uos=False)) as client:
        with pytest.raises(LoginRefused):
            await client.login(scanner(simulator, account))
    async with WeChatClient(config(simulator.base_url, uos=True)) as client:
        info = await client.login(scanner(simulator, account))
        assert info.user.nick_name == "Erin"
        sent = await client.send_text(UserName("filehelper"), "from UOS")
        assert sent.msg_id
    view = await simulator.control.session(account)
    assert view.logged_in and view.uos


async def test_session_file_is_private_and_resumes_without_qr(
    simulator: Any, tmp_path: Path
) -> None:
    account = await simulator.control.create_account("Fay")
    bob = await simulator.control.add_contact(account, "Bob")
    cfg = config(simulator.base_url, tmp_path)
    async with WeChatClient(cfg) as client:
        first = await client.start(scanner(simulator, account))
        assert first.method is LoginMethod.QR
    assert cfg.session_path is not None
    assert stat.S_IMODE(os.stat(cfg.session_path).st_mode) == 0o600
    saved = cfg.session_path.read_text()
    assert '"sync_key"' in saved and "webwx_data_ticket" in saved
    # Written while the client was away: the resumed session must deliver it.
    msg_id = await simulator.control.send_message(account, bob, text="while you were away")

    async def no_qr(qr: QRCode) -> None:
        raise AssertionError("a resumable session must not show a QR code")

    async with WeChatClient(cfg) as client:
        info = await client.start(no_qr)
        assert info.method is LoginMethod.RESUMED
        assert info.user.user_name == first.user.user_name
        async for event in client.events():
            assert isinstance(event, SyncBatch)
            await client.commit(event)
            if any(m.get("MsgId") == msg_id for m in event.messages):
                break
    assert stat.S_IMODE(os.stat(cfg.session_path).st_mode) == 0o600


async def test_push_login_after_the_session_ended(simulator: Any, tmp_path: Path) -> None:
    account = await simulator.control.create_account("Gus", auto_scan=False)
    cfg = config(simulator.base_url, tmp_path)
    async with WeChatClient(cfg) as client:
        first = await client.start(scanner(simulator, account))
    await simulator.control.logout(account, retcode=1101)
    await simulator.control.update_account(account, auto_scan=True)

    async def no_qr(qr: QRCode) -> None:
        raise AssertionError("push login must not show a QR code")

    async with WeChatClient(cfg) as client:
        info = await client.start(no_qr)
        assert info.method is LoginMethod.PUSH
        assert info.uin == first.uin
        assert info.user.user_name != first.user.user_name
    logins = await simulator.control.logins()
    assert any(entry.get("push") for entry in logins)


async def test_unconfirmed_push_login_falls_back_to_qr(simulator: Any, tmp_path: Path) -> None:
    account = await simulator.control.create_account("Hal")
    cfg = config(simulator.base_url, tmp_path, push_login_polls=2)
    async with WeChatClient(cfg) as client:
        first = await client.start(scanner(simulator, account))
    await simulator.control.logout(account, retcode=1100)
    shown: list[QRCode] = []
    async with WeChatClient(cfg) as client:
        # The phone ignores the push prompt: after 2 polls the client shows a QR instead.
        info = await client.start(scanner(simulator, account, shown))
        assert info.method is LoginMethod.QR and len(shown) == 1
        assert info.uin == first.uin
    assert [entry["push"] for entry in await simulator.control.logins()] == [False, True, False]


async def test_logout_forgets_the_session(simulator: Any, tmp_path: Path) -> None:
    account = await simulator.control.create_account("Ian")
    cfg = config(simulator.base_url, tmp_path)
    async with WeChatClient(cfg) as client:
        await client.start(scanner(simulator, account))
        await client.logout()
        assert not client.logged_in
        with pytest.raises(NoSession):
            client.events()
    assert cfg.session_path is not None and not cfg.session_path.exists()
    assert not (await simulator.control.session(account)).logged_in
    shown: list[QRCode] = []
    async with WeChatClient(cfg) as client:
        info = await client.start(scanner(simulator, account, shown))
        assert info.method is LoginMethod.QR and len(shown) == 1


async def test_logs_carry_no_secrets(
    simulator: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    account = await simulator.control.create_account("Ivy")
    caplog.set_level(logging.DEBUG, logger="adapters.wechat.client")
    cfg = config(simulator.base_url, tmp_path)
    async with WeChatClient(cfg) as client:
        await client.start(scanner(simulator, account))
        await client.send_text(UserName("filehelper"), "secret-free")
        async for event in client.events():
            assert isinstance(event, SyncBatch)
            await client.commit(event)
            break
    assert cfg.session_path is not None
    saved = json.loads(cfg.session_path.read_text())
    secret_cookies = {"wxsid", "webwx_data_ticket", "webwx_auth_ticket", "webwxuvid"}
    secrets = [
        saved["credentials"]["skey"],
        saved["credentials"]["sid"],
        saved["credentials"]["pass_ticket"],
        *(c["value"] for c in saved["cookies"] if c["name"] in secret_cookies),
    ]
    assert len(secrets) >= 7
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "webwxsync" in logged and "webwxnewloginpage" in logged
    for secret in filter(None, secrets):
        assert secret not in logged
