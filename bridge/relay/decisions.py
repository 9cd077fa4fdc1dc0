"""The user's decisions about identities: the answer to an ambiguity (``resolve_identity``)
and its inverse (``split_identity``), each stored and audited (PROTOCOL.md §11)."""

from __future__ import annotations

from bridge import identity as matcher
from bridge.errors import BridgeError
from bridge.ids import LoginId
from bridge.model import Address, IdentityId
from bridge.relay.matching import apply_result, as_identity, candidate_profiles, new_id
from bridge.store import Repositories
from bridge.store.audit import Decision


async def resolve_identity(
    tx: Repositories, login: LoginId, identity_id: IdentityId, address: Address | None
) -> None:
    """The user's answer to an ambiguity (see ``bridge.identity.resolve``), stored.

    Raises ``BridgeError`` if ``identity_id`` is not an ambiguous identity of ``login`` or
    ``address`` is not one of its candidates.
    """
    target = await tx.identities.get(identity_id)
    if target is None or target.login_id != login:
        raise BridgeError(f"cannot resolve {identity_id}: no such identity")
    pool = {target.id: target}
    addresses = sorted({c.address for c in target.candidates})
    for ident in await tx.identities.claiming(login, addresses):
        pool.setdefault(ident.id, ident)
    stored = list(pool.values())
    profiles = candidate_profiles(stored)
    try:
        result = matcher.resolve(
            [as_identity(i) for i in stored],
            identity_id,
            address,
            list(profiles.values()),
            new_id=new_id,
        )
    except ValueError as e:
        raise BridgeError(f"cannot resolve {identity_id}: {e}") from e
    await apply_result(tx, login, result, profiles)
    chosen = "none of its candidates" if address is None else profiles[address].display_name
    decision = Decision(identity_id, "resolved", "the user's answer", chosen, target.profile)
    await tx.audit.record(login, [decision])


async def split_identity(tx: Repositories, login: LoginId, identity_id: IdentityId) -> IdentityId:
    """The inverse of ``resolve_identity``, and of a binding a re-login made on evidence
    weaker than an identifier: the contact bound to ``identity_id`` is someone else.

    The contact gets a new identity (its messages open a new chat); ``identity_id`` is
    unbound and gets back the fingerprint it had before the last audited decision that bound
    it (``resolved`` or ``bound``), so the next login does not take that contact for it
    again; without one, both identities claim the contact at the next login and the user is
    asked. Returns the new identity's id. Raises ``BridgeError`` if ``identity_id`` is not a
    chat of ``login`` bound to a contact now.
    """
    ident = await tx.identities.get(identity_id)
    if ident is None or ident.login_id != login:
        raise BridgeError(f"cannot split {identity_id}: no such chat")
    if ident.address is None or ident.ambiguous:
        raise BridgeError(f"cannot split {identity_id}: it is bound to no contact now")
    contact = ident.profile
    history = await tx.audit.recent(login, 50, identity_id=identity_id)
    binding = next(
        (d for d in reversed(history) if d.decision in ("resolved", "bound") and d.before), None
    )
    await tx.identities.bind(identity_id, None)
    if binding is not None and binding.before is not None:
        await tx.identities.update_profile(identity_id, binding.before)
    fresh = new_id(contact)
    await tx.identities.create(login, contact, address=ident.address, identity_id=fresh)
    evidence = "the user's answer" + ("" if binding else " (no earlier fingerprint)")
    await tx.audit.record(login, [Decision(identity_id, "split", evidence, contact.display_name)])
    return fresh
