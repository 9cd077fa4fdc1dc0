"""``delete-portal`` on the Matrix side (``SupportsPortalDeletion``, ``SupportsPortalInvite``):
the room is emptied and left, and the chat's next message opens a new portal."""

from __future__ import annotations

import pytest

from adapters.matrix.types import UserId
from bridge.channel import SupportsPortalDeletion, SupportsPortalInvite
from bridge.model import Address, ChatKind
from tests.matrix.matrix_rig import BOB, FAMILY, MatrixRig, rig

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["rig"]


async def test_a_deleted_group_portal_is_emptied_and_the_next_message_opens_a_new_one(
    rig: MatrixRig,
) -> None:
    user = rig.user
    await rig.from_wechat(rig.text(FAMILY, "dinner at 7", sender=BOB, chat_kind=ChatKind.GROUP))
    room = await rig.joined_portal(FAMILY)
    ghost = UserId(
        next(m.user_id for m in await rig.api.get_members(room) if rig.config.is_ghost(m.user_id))
    )
    ident = await rig.store.identities.by_address(rig.login.id, FAMILY)
    assert ident is not None
    assert isinstance(rig.channel, SupportsPortalDeletion | SupportsPortalInvite)
    assert not await rig.channel.invite_owner(Address(room))  # joined already

    assert await rig.portals.forget(ident.id) == room
    await rig.channel.delete_portal(Address(room), reason="the portal was deleted")

    kicked = await user.state(room, "m.room.member", user.user_id)
    assert (kicked["membership"], kicked.get("reason")) == ("leave", "the portal was deleted")
    assert room not in await rig.api.joined_rooms()
    assert room not in await rig.api.joined_rooms(as_user=ghost)
    assert await rig.portals.by_room(room) is None
    await rig.from_wechat(rig.text(FAMILY, "who is coming?", sender=BOB, chat_kind=ChatKind.GROUP))
    fresh = await rig.joined_portal(FAMILY)
    assert fresh != room
    texts = [
        e["content"]["body"] for e in await user.messages(fresh) if e["type"] == "m.room.message"
    ]
    assert texts == ["who is coming?"]
