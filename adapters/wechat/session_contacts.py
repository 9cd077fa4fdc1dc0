"""What ``WeChatChannel``'s sending and receiving halves share about the current login session:
its contacts, the real ids leaked for its UserNames (PROTOCOL.md §11), the account itself and
the UserNames it listed or met, and the bridge profile of a contact made from them."""

from __future__ import annotations

from adapters.wechat.client.types import Contact, RealId, UserName
from adapters.wechat.translate import profile_from_contact
from bridge.model import Profile


class SessionContacts:
    """The session state ``WeChatSending`` and ``WeChatReceiving`` read; ``WeChatChannel``
    sets it at each login (PROTOCOL.md §3.1, §3.3, §11)."""

    _contacts: dict[UserName, Contact]
    _real_ids: dict[UserName, RealId]
    _self: Contact | None
    #: UserNames of this session: its book, group members, chats and senders met (§11).
    _known: set[UserName]

    def _profile(self, contact: Contact) -> Profile:
        """The bridge profile of ``contact``, with the real id leaked for it, if any."""
        me = self._self.user_name if self._self else ""
        real = self._real_ids.get(contact.user_name, "")
        return profile_from_contact(contact, real_id=real, self_user_name=me)
