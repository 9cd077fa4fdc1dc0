"""The Channel contract harness of ``WeChatChannel``: a simulator plays WeChat and the phone."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.quotes import QUOTE_SEPARATOR
from adapters.wechat.simulator import SimulatorControl, start_simulator
from adapters.wechat.simulator.demo import Demo, create_demo
from bridge.model import Address, Content, Media, MediaKind, RemoteId, Text
from bridge.testing.harness import ContractHarness, Observed

_MEDIA_KINDS = {
    "image": MediaKind.IMAGE,
    "video": MediaKind.VIDEO,
    "emoticon": MediaKind.STICKER,
    "file": MediaKind.FILE,
}


class WeChatHarness:
    """``ContractHarness`` over an in-process simulator with the demo account, whose phone
    confirms every login by itself. ``chat`` is Alice, ``group`` "Weekend Hike"; addresses
    are the UserNames of the current session, known after ``ready()``."""

    timeout_s = 15.0
    owner: Address | None = None

    def __init__(self, base_url: str, control: SimulatorControl, demo: Demo, state: Path) -> None:
        self._control = control
        self._demo = demo
        self._settings = WeChatSettings(base_url=base_url, session_path=state / "session.json")
        self.channel = WeChatChannel(self._settings)
        self._names: dict[str, str] = {}

    @property
    def chat(self) -> Address:
        return Address(self._names.get(self._demo.alice, ""))

    @property
    def peer(self) -> Address:
        return self.chat

    @property
    def group(self) -> Address | None:
        return Address(self._names.get(self._demo.group, "")) or None

    async def ready(self) -> None:
        """Log in (the demo phone scans by itself) and learn this session's UserNames."""
        if not self.channel.logged_in:
            await self.channel.login()
        while not self.channel.logged_in:  # noqa: ASYNC110 - the channel exposes no event for it
            await asyncio.sleep(0.02)
        self._names = dict((await self._control.session(self._demo.account)).user_names)

    async def make_inbound_text(self, chat: Address, text: str) -> None:
        """Alice (or, in the group, Alice as a member) sends ``text``."""
        group = self._demo.group if chat == self.group else None
        await self._control.send_message(
            self._demo.account, self._demo.alice, group=group, text=text
        )

    async def observe_sent(self, chat: Address) -> Sequence[Observed]:
        """What the simulator's outbox shows the account sent to ``chat``; revoked when a
        revoke of the same MsgId follows."""
        real = {user_name: real for real, user_name in self._names.items()}.get(chat)
        outbox = [o for o in await self._control.outbox(self._demo.account) if o.to == real]
        revoked = {o.msg_id for o in outbox if o.kind == "revoke"}
        seen: list[Observed] = []
        for entry in outbox:
            content: Content
            reply_to = None
            if entry.kind == "text":
                content = Text(entry.text)
                reply_to = _quoted(entry.text, seen)
            elif entry.kind in _MEDIA_KINDS:
                data = await self._control.media(entry.sha256)
                content = Media(_MEDIA_KINDS[entry.kind], data, filename=entry.filename)
            else:
                continue
            msg_id = RemoteId(entry.msg_id)
            seen.append(Observed(msg_id, content, reply_to, entry.msg_id in revoked))
        return seen

    async def restart(self) -> WeChatChannel:
        """Stop the channel; a new one on the same session file resumes without a QR."""
        await self.channel.stop()
        self.channel = WeChatChannel(self._settings)
        await self.channel.start()
        await self.ready()
        return self.channel


def _quoted(text: str, earlier: Sequence[Observed]) -> RemoteId | None:
    """The earlier message a text quotes, as the contact would recognise it (the quote style
    of ``WeChatChannel.send_reply``)."""
    head, sep, _ = text.partition(f"」\n{QUOTE_SEPARATOR}\n")
    if not sep or not head.startswith("「") or "：" not in head:
        return None
    excerpt = head.partition("：")[2].removesuffix("…")
    for seen in reversed(earlier):
        if isinstance(seen.content, Text) and seen.content.body.startswith(excerpt):
            return seen.remote_id
    return None


@asynccontextmanager
async def contract_harness() -> AsyncIterator[ContractHarness]:
    """A fresh simulator, demo account and ``WeChatChannel``; all closed on exit."""
    running = await start_simulator(synccheck_hold_s=2.0, login_poll_hold_s=0.5)
    control = SimulatorControl(running.base_url)
    try:
        demo = await create_demo(control, auto_scan=True)
        # A SyncKey commit cancelled at stop may still finish its file write in a worker
        # thread while the folder is removed: that is no failure of the channel.
        with tempfile.TemporaryDirectory(
            prefix="chatbridge-contract-", ignore_cleanup_errors=True
        ) as state:
            harness = WeChatHarness(running.base_url, control, demo, Path(state))
            try:
                yield harness
            finally:
                await harness.channel.stop()
    finally:
        await control.close()
        await running.close()
