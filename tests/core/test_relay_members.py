"""Group members who are not contacts, through the relay: their ghosts survive a re-login,
and they never stand in for a contact (``bridge.identity_members``, PROTOCOL.md §3.4, §11)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bridge.model import Address, ChatKind, ContactBook, GroupMember, LoggedIn, Profile
from bridge.store import Login, Store
from bridge.testing.memory import MemoryChannel
from tests.core.conftest import Rig, make_rig
from tests.core.test_relay_identity import session

# A friend, and a member of TEAM of the same NickName who is not a contact.
ALICE = Profile(Address("@s1-alice"), nick_name="Alice", sex=2)
TEAM = Profile(Address("@s1-team"), kind=ChatKind.GROUP, nick_name="Team", real_id="1@chatroom")
NAMESAKE = Profile(Address("@s1-namesake"), nick_name="Alice", attr_status=77, key_word="dap")


def login(rig: Rig, n: int) -> None:
    """Login session ``n``: the contact book (Alice, the group) and the group's member list."""
    alice, team, namesake = session(n, ALICE, TEAM, NAMESAKE)
    rig.a.profiles = {p.address: p for p in (alice, team, namesake)}
    rig.a.logged_in = True
    members = (GroupMember(team.address, namesake), GroupMember(team.address, alice))
    rig.a.inject(LoggedIn(rig.a.account), ContactBook((alice, team), members))


def said(rig: Rig, n: int, who: Profile, body: str) -> None:
    team, sender = session(n, TEAM, who)
    group = ChatKind.GROUP
    rig.a.inject(rig.a.incoming_text(team.address, body, sender=sender.address, chat_kind=group))


@pytest.fixture
async def wechat_rig(store: Store, login: Login) -> AsyncIterator[Rig]:
    rig = await make_rig(store, login, a=MemoryChannel("wechat", stable_addresses=False))
    try:
        yield rig
    finally:
        await rig.relay.stop()
        await rig.a.stop()
        await rig.b.stop()


async def test_a_member_keeps_its_ghost_and_never_takes_the_friends(wechat_rig: Rig) -> None:
    rig = wechat_rig
    login(rig, 1)
    said(rig, 1, NAMESAKE, "member, session 1")
    said(rig, 1, ALICE, "friend, session 1")
    await rig.settle()
    first = {getattr(m.content, "body", ""): m.sender for m in rig.b.messages()}

    login(rig, 2)  # every UserName is new
    said(rig, 2, NAMESAKE, "member, session 2")
    said(rig, 2, ALICE, "friend, session 2")
    rig.a.inject(rig.a.incoming_text(session(2, ALICE)[0].address, "friend, direct"))
    await rig.settle()

    by_body = {getattr(m.content, "body", ""): m.sender for m in rig.b.messages()}
    member, friend = first["member, session 1"], first["friend, session 1"]
    assert member is not None and friend is not None and member.address != friend.address
    again, friend_again = by_body["member, session 2"], by_body["friend, session 2"]
    assert again is not None and friend_again is not None
    assert (again.address, again.display_name) == (member.address, "Alice")  # the same ghost
    assert friend_again.address == friend.address
    # The friend's own chat is not held for the namesake: nothing is ambiguous.
    assert await rig.store.identities.count_ambiguous(rig.login.id) == 0
    assert "friend, direct" in rig.texts(rig.b)
