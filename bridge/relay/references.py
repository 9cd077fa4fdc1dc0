"""How messages of one login refer to people and to other messages across the two sides:
mentions, the message a reply answers, and a sent message a revocation takes back. Everything
comes from the message map and identities, so it holds after a restart."""

from __future__ import annotations

import attrs

from bridge.channel import Channel
from bridge.errors import BridgeError
from bridge.ids import LoginId
from bridge.model import (
    Address,
    Content,
    IdentityId,
    Mention,
    Profile,
    Quoted,
    RemoteId,
    SentMessage,
    Text,
    identity_address,
)
from bridge.store import MessageLink, Origin, Side, Store


class References:
    """Translates mentions and message references of login ``login`` between side A (``a``,
    the remote network) and side B (where ``owner`` is the local user's address)."""

    def __init__(self, store: Store, login: LoginId, a: Channel, *, owner: Address) -> None:
        self.store = store
        self.login = login
        self.a = a
        self.owner = owner

    async def link(self, side: Side, id_: RemoteId) -> MessageLink | None:
        """The bridged message ``id_`` (an id on ``side``) stands for now: the message of
        the edit that replaced it (``message_replacements``, schema 7), else its own;
        ``None`` when it was never bridged."""
        current = await self.store.replacements.current(self.login, side, id_)
        return await self.store.messages.by_side(self.login, side, current)

    async def quoted(self, link: MessageLink, side: Side) -> Quoted | None:
        """The message ``link`` as a reply on ``side`` refers to it: its id there, its text
        (as side A shows it) and its author; ``None`` when it has no id on ``side``."""
        target = link.id_on(side)
        if target is None:
            return None
        author: Profile | None = None
        if link.origin is Origin.B or link.sender == self.owner:
            # Written by the local user, who is the account itself on side A.
            author = Profile(self.owner if side is Side.B else Address(""), is_self=True)
        elif link.origin is Origin.A:
            ident = await self.store.identities.get(IdentityId(link.sender))
            if ident is not None:
                where = identity_address(ident.id) if side is Side.B else ident.address
                author = attrs.evolve(ident.profile, address=where or Address(""))
        return Quoted(target, link.quote_text or "", author)

    async def mentions_on_b(self, content: Content) -> Content:
        """``content`` from side A with its mentions as side B knows them: the account itself
        becomes the owner, a contact its stable identity id (its ghost); unknown ones are
        dropped. Each keeps the text that names it."""
        if not isinstance(content, Text) or not content.mentions:
            return content
        mentioned: list[Mention] = []
        for mention in content.mentions:
            ident = await self.store.identities.by_address(self.login, mention.address)
            if ident is not None and not ident.ambiguous:
                mentioned.append(Mention(identity_address(ident.id), mention.text))
                continue
            try:
                if (await self.a.get_profile(mention.address)).is_self:
                    mentioned.append(Mention(self.owner, mention.text))
            except BridgeError:
                pass
        return attrs.evolve(content, mentions=tuple(mentioned))

    async def mentions_on_a(self, content: Content) -> Content:
        """``content`` from side B with its mentions as side A knows them: a stable identity
        id (a ghost) becomes the contact's current address; the owner and other side-B users
        have no side-A address and are dropped (their names stay in the text as written)."""
        if not isinstance(content, Text) or not content.mentions:
            return content
        mentioned: list[Mention] = []
        for mention in content.mentions:
            if mention.address == self.owner:
                continue
            ident = await self.store.identities.get(IdentityId(mention.address))
            if ident is None or ident.login_id != self.login or ident.ambiguous:
                continue
            if ident.address is not None:
                mentioned.append(Mention(ident.address, mention.text))
        return attrs.evolve(content, mentions=tuple(mentioned))


def as_sent(link: MessageLink, side: Side, target: RemoteId) -> SentMessage:
    """The message ``link``, whose id on ``side`` is ``target``, as its send returned it:
    what the message map kept of the bridge's send (time, revoke data, text) when the bridge
    sent it there; only its id and time when someone wrote it there."""
    if link.origin.value == side.value:
        return SentMessage(target, link.timestamp)
    sent_at = link.timestamp if link.sent_at is None else link.sent_at
    return SentMessage(target, sent_at, link.revoke_data or "", link.quote_text or "")
