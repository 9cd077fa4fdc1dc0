"""What a send returned and what a reply may quote come back from the message map after a
relay restart: the core hands side A the same values it had before."""

from __future__ import annotations

import time

import attrs

from bridge.model import Address, Content, Profile, Quoted, Revocation, SentMessage, Text
from bridge.store import Login, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import ALICE, BOB, make_rig


class Keeping(MemoryChannel):
    """Side A whose sends return revoke data and their text, and which records the values
    the core gives back to ``revoke`` and ``send_reply``."""

    def __init__(self) -> None:
        super().__init__("wechat", stable_addresses=False, profiles=(ALICE, BOB))
        self.revoked: list[SentMessage] = []
        self.quoted: list[Quoted] = []

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        sent = await super().send(chat, content, sender=sender)
        text = content.body if isinstance(content, Text) else ""
        return attrs.evolve(sent, revoke_data=f"client-{sent.remote_id}", text=text)

    async def send_reply(
        self,
        chat: Address,
        content: Content,
        reply_to: Quoted,
        *,
        sender: Profile | None = None,
    ) -> SentMessage:
        self.quoted.append(reply_to)
        return await super().send_reply(chat, content, reply_to, sender=sender)

    async def revoke(self, chat: Address, message: SentMessage) -> None:
        self.revoked.append(message)
        await super().revoke(chat, message)


async def test_revoke_and_replies_after_a_restart_get_what_the_sends_left(
    store: Store, login: Login
) -> None:
    a = Keeping()
    rig = await make_rig(store, login, a=a, stable=False)
    a.scan()
    question = a.incoming_text(ALICE.address, "lunch at 12?")
    a.inject(question)
    await rig.settle()
    portal = await rig.portal_of(ALICE.address)
    [bridged] = rig.b.messages()
    before = time.time()
    mine = rig.b.incoming_text(portal, "or at 1", sender=rig.owner)
    rig.b.inject(mine)
    await rig.settle()
    [own] = a.messages()

    await rig.restart()
    rig.b.inject(
        rig.b.incoming_text(portal, "12 is fine", sender=rig.owner, reply_to=bridged.remote_id),
        rig.b.incoming_text(portal, "forget it", sender=rig.owner, reply_to=mine.remote_id),
        Revocation(portal, rig.owner, mine.remote_id, time.time()),
    )
    await rig.settle()

    to_alice, to_self = a.quoted
    assert (to_alice.remote_id, to_alice.text) == (question.remote_id, "lunch at 12?")
    assert to_alice.author is not None and to_alice.author.display_name == "Alice"
    assert (to_self.remote_id, to_self.text) == (own.remote_id, "or at 1")
    assert to_self.author is not None and to_self.author.is_self
    [revoked] = a.revoked
    assert (revoked.remote_id, revoked.revoke_data, revoked.text) == (
        own.remote_id,
        f"client-{own.remote_id}",
        "or at 1",
    )
    assert before <= revoked.timestamp <= time.time()
    await rig.relay.stop()
