"""Typed ids of the Matrix side and of the bridge's own records."""

from __future__ import annotations

from typing import NewType

#: A Matrix room id (``!opaque`` or ``!opaque:server``). Never parse a server name out of it:
#: room version 12 ids have none (Matrix spec, "Room IDs").
RoomId = NewType("RoomId", str)
#: A Matrix event id (``$opaque``), e.g. of a message or a redaction.
EventId = NewType("EventId", str)
#: A Matrix user id (``@localpart:server``): a real user or an appservice ghost.
MatrixUserId = NewType("MatrixUserId", str)
#: A bridge-assigned id of one login (one Matrix user's account on the remote network).
LoginId = NewType("LoginId", str)
#: The id of an appservice transaction (the ``txnId`` of ``PUT /transactions/{txnId}``).
TransactionId = NewType("TransactionId", str)
#: The position of an entry in the bridge's journal; grows with arrival order.
EntryId = NewType("EntryId", int)
