"""Fetching a contact's avatar through the live web session (PROTOCOL.md §3.3, §9)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.errors import WeChatError
from adapters.wechat.client.types import Contact, UserName
from bridge.errors import BridgeError

#: Largest avatar accepted, in bytes (WeChat's are JPEGs of a few tens of KiB).
AVATAR_MAX_BYTES = 2 * 1024 * 1024


def icon_version(head_img_url: str) -> tuple[str, str]:
    """``(seq, chatroomid)`` of a ``HeadImgUrl`` (``/cgi-bin/mmwebwx-bin/webwxgeticon?seq=
    <avatar version>&username=…&skey=…[&chatroomid=…]``, §3.3): the avatar version to ask
    for ("0" when absent) and the group a non-friend member is fetched through ("" if none).
    The URL is relative and names an expired session's skey; only these two values are kept."""
    query = parse_qs(urlsplit(head_img_url).query)
    seq = (query.get("seq") or ["0"])[0] or "0"
    return seq, (query.get("chatroomid") or [""])[0]


async def fetch_avatar(
    client: WeChatClient,
    user_name: UserName,
    contact: Contact | None,
    group: Contact | None = None,
) -> bytes:
    """The avatar of the contact at ``user_name``: webwxgeticon (webwxgetheadimg for a group)
    on the session's own host with its skey, at the version its ``HeadImgUrl`` names (§9);
    for a member of ``group`` who is not a contact (``contact`` None), through the group's
    ``EncryChatRoomId`` at version 0, as the official client shows members' avatars.
    Raises ``BridgeError`` when the contact is unknown to the session, WeChat refuses, or the
    image is empty or larger than ``AVATAR_MAX_BYTES``."""
    if contact is not None:
        seq, chat_room = icon_version(contact.head_img_url)
    elif group is not None and group.encry_chat_room_id:
        seq, chat_room = "0", group.encry_chat_room_id
    else:
        raise BridgeError(f"WeChat user {user_name[:12]}… is not known in this session")
    try:
        download = await client.get_icon(user_name, seq=seq, chat_room=chat_room)
    except WeChatError as exc:
        raise BridgeError(f"avatar not fetched: {exc}") from exc
    if not download.data or len(download.data) > AVATAR_MAX_BYTES:
        raise BridgeError(f"avatar not fetched: {len(download.data)} bytes")
    return download.data
