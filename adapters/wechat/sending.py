"""Sending, recall and profile look-ups of ``WeChatChannel`` (PROTOCOL.md §7, §8)."""

from __future__ import annotations

import mimetypes
import time

import attrs

from adapters.wechat.client.client import WeChatClient
from adapters.wechat.client.errors import WeChatError
from adapters.wechat.client.results import SendResult
from adapters.wechat.client.types import ClientMsgId, MsgId, UserName
from adapters.wechat.downloads import fetch_media
from adapters.wechat.failures import delivery_error, revoke_refusal
from adapters.wechat.quotes import quote
from adapters.wechat.session_contacts import SessionContacts
from adapters.wechat.translate import profile_from_contact, profile_from_member, with_mentions
from bridge.errors import BridgeError, NotLoggedIn, RevokeRefused
from bridge.model import (
    Address,
    Content,
    Link,
    Location,
    Media,
    MediaKind,
    Notice,
    Profile,
    Quoted,
    RemoteId,
    SentMessage,
    Text,
)

#: Where the bridge's notices go on WeChat: the account's own File Transfer chat (§3.5).
NOTICE_CHAT = Address("filehelper")
#: WeChat lets a sender recall a message for 2 minutes (PROTOCOL.md §8).
REVOKE_WINDOW_S = 120.0


class WeChatSending(SessionContacts):
    """The sending half of ``WeChatChannel``: text, media, replies, recall, and the profiles
    of this session's contacts. The channel provides the session state (``SessionContacts``
    and below)."""

    #: Whether ``_known`` decides (a new login's session; not a resumed one).
    _check_known: bool

    def _require(self) -> WeChatClient:
        """The client of a working session with its book taken in; see ``WeChatChannel``."""
        raise NotImplementedError

    def _session_address(self, chat: Address) -> UserName:
        """``chat`` as a UserName of this session. In a new login's session, raises
        (retryable) ``NotLoggedIn`` for a ``@`` name this session never listed nor met: one
        of an earlier session, which the core still held when it looked the chat up while
        the new book was being stored (UserNames are new at every login, PROTOCOL.md §11);
        the retry looks it up again. A resumed session keeps its UserNames: no check."""
        if self._check_known and chat.startswith("@") and UserName(chat) not in self._known:
            raise NotLoggedIn(
                "the chat's WeChat address is from an earlier login session; retrying with "
                "the current one"
            )
        return UserName(chat)

    # --- sending ---------------------------------------------------------------------------

    async def send(
        self, chat: Address, content: Content, *, sender: Profile | None = None
    ) -> SentMessage:
        """Send to the UserName ``chat`` (PROTOCOL.md §7). Text-like content goes as text:
        a location as its label and ``geo:`` URI, a link card as title and URL. A ``Notice``
        (the bridge reporting a failure) goes to the account's own File Transfer chat
        (``filehelper``), naming ``chat``, so the contact never sees it. Returns the MsgID,
        the send time, the ClientMsgId a recall needs (as ``revoke_data``) and the text
        sent. Raises ``NotLoggedIn``, ``RateLimited``, ``DeliveryFailed``."""
        match content:
            case Media():
                return await self.send_media(chat, content, sender=sender)
            case Notice(text=body):
                # The bridge's own reports are for the account owner, not the contact.
                where = await self._chat_name(chat)
                text = f"[chatbridge] {where}: {body}"
                chat = NOTICE_CHAT
            case Text(body=body, mentions=mentions):
                text = with_mentions(
                    body, [(m.text, await self._nick(m.address)) for m in mentions]
                )
            case Location():
                text = f"{content.label}\n{content.geo_uri}".strip()
            case Link(url=url, title=title, description=desc):
                text = "\n".join(part for part in (title, desc, url) if part)
        client = self._require()
        sent = await self._sent_by(client.send_text(self._session_address(chat), text))
        return attrs.evolve(sent, text=text)

    async def send_reply(
        self,
        chat: Address,
        content: Content,
        reply_to: Quoted,
        *,
        sender: Profile | None = None,
    ) -> SentMessage:
        """Send ``content`` quoting the text of ``reply_to``. The web protocol cannot send
        WeChat's native quotes (AppMsgType 57, PROTOCOL.md §6.4), so the quote goes as text
        in the style desktop WeChat uses for such clients: ``「name：text」``, a separator
        line, the reply. Without a quoted text (not a text) it is sent as is."""
        if reply_to.text and isinstance(content, Text):
            name = await self._author_name(reply_to.author)
            content = attrs.evolve(content, body=quote(name, reply_to.text, content.body))
        return await self.send(chat, content, sender=sender)

    async def _author_name(self, author: Profile | None) -> str:
        """The name a quote shows for ``author``: the account's own for ``is_self``."""
        if author is None:
            return "a chat"
        if author.is_self and self._self is not None:
            return await self._chat_name(Address(self._self.user_name))
        return author.display_name or "a chat"

    async def send_media(
        self, chat: Address, media: Media, *, sender: Profile | None = None
    ) -> SentMessage:
        """Upload (chunked) and send ``media`` (PROTOCOL.md §7): images, videos and stickers
        natively, voice and other files as file attachments."""
        client = self._require()
        to = self._session_address(chat)
        name = media.filename or f"file{mimetypes.guess_extension(media.mimetype) or ''}"
        match media.kind:
            case MediaKind.IMAGE:
                call = client.send_image(to, media.data, name, media.mimetype)
            case MediaKind.VIDEO:
                call = client.send_video(to, media.data, name, media.mimetype)
            case MediaKind.STICKER:
                call = client.send_emoticon(to, media.data, name)
            case _:
                call = client.send_file(to, media.data, name, media.mimetype)
        return await self._sent_by(call)

    async def fetch_media(self, media: Media) -> Media:
        """The file of a media message this channel received (``SupportsMediaFetch``),
        downloaded now with the live session (PROTOCOL.md §9). Raises ``DeliveryFailed``
        (retryable when WeChat could not be reached) or ``NotLoggedIn``."""
        return await fetch_media(self._require(), media)

    async def _sent_by(self, call: object) -> SentMessage:
        try:
            result: SendResult = await call  # type: ignore[misc]
        except WeChatError as exc:
            raise delivery_error(exc) from exc
        return SentMessage(
            RemoteId(result.msg_id), time.time(), revoke_data=str(result.client_msg_id)
        )

    async def revoke(self, chat: Address, message: SentMessage) -> None:
        """Recall ``message``, which this account sent (webwxrevokemsg with its MsgID and
        the ClientMsgId of its send, ``message.revoke_data``; PROTOCOL.md §8). Raises
        ``RevokeRefused`` past WeChat's 2-minute limit (counted from ``message.timestamp``)
        or when WeChat refuses."""
        client = self._require()
        age = time.time() - message.timestamp
        if age >= REVOKE_WINDOW_S:
            raise RevokeRefused(
                f"WeChat only allows recalling a message within 2 minutes; this one was sent "
                f"{age / 60:.0f} minutes ago, so it stays on WeChat"
            )
        # Messages mapped before ClientMsgIds were kept have none; itchat's fallback (§8).
        client_msg_id = ClientMsgId(message.revoke_data or _client_id())
        sent = SendResult(MsgId(message.remote_id), client_msg_id, client_msg_id)
        try:
            await client.revoke(UserName(chat), sent)
        except WeChatError as exc:
            raise RevokeRefused(revoke_refusal(exc)) from exc

    # --- profiles --------------------------------------------------------------------------

    async def get_profile(self, address: Address) -> Profile:
        """The profile of a contact, group or group member by UserName. Raises
        ``BridgeError`` when this session does not know it."""
        if (contact := self._contacts.get(UserName(address))) is not None:
            return self._profile(contact)
        if self._self is not None and address == str(self._self.user_name):
            return profile_from_contact(self._self, self_user_name=self._self.user_name)
        for group in self._contacts.values():
            for member in group.members:
                if str(member.user_name) == address:
                    real = self._real_ids.get(member.user_name, "")
                    return profile_from_member(member, real_id=real)
        raise BridgeError(f"WeChat user {address[:12]}… is not known in this session")

    async def _nick(self, user: Address) -> str:
        """The NickName a mention of ``user`` shows (PROTOCOL.md §6.2); '' if unknown."""
        try:
            profile = await self.get_profile(user)
        except BridgeError:
            return ""
        return profile.nick_name or profile.display_name

    async def _chat_name(self, chat: Address) -> str:
        try:
            return (await self.get_profile(chat)).display_name
        except BridgeError:
            return "a chat"


def _client_id() -> str:
    """A ClientMsgId for a revoke of a message whose own is not known (PROTOCOL.md §8)."""
    return str(int(time.time() * 1000))
