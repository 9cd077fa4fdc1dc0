"""Group members who are not contacts, matched within their group across logins
(``bridge.identity.match_members``, PROTOCOL.md §3.4, §11)."""

from __future__ import annotations

from bridge.identity import Identity, match_members, rosters_of
from bridge.model import Address, ChatKind, GroupMember, IdentityId, Profile

CLUB = IdentityId("club")
CHESS = IdentityId("chess")


def member(
    address: str,
    nick: str,
    *,
    attr: int = 0,
    key: str = "",
    card: str = "",
    real_id: str = "",
    group: IdentityId = CLUB,
) -> Profile:
    return Profile(
        Address(address),
        ChatKind.DIRECT,
        nick_name=nick,
        attr_status=attr,
        key_word=key,
        group_name=card,
        real_id=real_id,
        member_of=group,
    )


def known(ident: str, profile: Profile) -> Identity:
    return Identity(IdentityId(ident), ChatKind.DIRECT, profile)


def test_members_keep_their_identity_by_name_and_group_card() -> None:
    ann = known("ann", member("@old1", "Ann", attr=7, key="wxi"))
    bea = known("bea", member("@old2", "Bea", card="B in club"))
    roster = [member("@new1", "Ann", attr=7, key="wxi"), member("@new2", "Bee", card="B in club")]
    result = match_members([ann, bea], {CLUB: roster})
    assert dict(result.bound) == {"@new1": "ann", "@new2": "bea"}
    assert result.created == () and result.ambiguous == ()
    fingerprints = {i.id: i.fingerprint for i in result.updated}
    assert fingerprints[IdentityId("bea")].nick_name == "Bee"


def test_a_nickname_swap_is_held_not_guessed() -> None:
    ann = known("ann", member("@old1", "Ann", attr=7))
    bea = known("bea", member("@old2", "Bea", attr=9))
    result = match_members(
        [ann, bea], {CLUB: [member("@new1", "Bea", attr=7), member("@new2", "Ann", attr=9)]}
    )
    assert dict(result.bound) == {}
    held = {i.id: set(i.candidates) for i in result.updated if i.ambiguous}
    assert held == {"ann": {"@new1"}, "bea": {"@new2"}}
    assert result.evidence["ann"] == "the same AttrStatus under another name"


def test_a_leaver_and_a_lookalike_newcomer_are_told_apart_by_attr_status() -> None:
    bob = known("bob", member("@old1", "Bob", attr=7, key="wxi"))
    result = match_members([bob], {CLUB: [member("@new9", "Bob", attr=8, key="wxi")]})
    assert dict(result.bound) == {} and result.updated == ()


def test_a_differing_key_word_vetoes() -> None:
    bob = known("bob", member("@old1", "Bob", key="dap"))
    result = match_members([bob], {CLUB: [member("@new1", "Bob", key="mai")]})
    assert dict(result.bound) == {}
    bob_real = known("bob", member("@old1", "Bob", real_id="daphne"))
    result = match_members([bob_real], {CLUB: [member("@new1", "Bob", key="mai")]})
    assert dict(result.bound) == {}


def test_two_lookalikes_are_held() -> None:
    bob = known("bob", member("@old1", "Bob"))
    result = match_members([bob], {CLUB: [member("@new1", "Bob"), member("@new2", "Bob")]})
    assert dict(result.bound) == {}
    (held,) = result.updated
    assert held.ambiguous and set(held.candidates) == {"@new1", "@new2"}
    assert [set(a.addresses) for a in result.ambiguous] == [{"@new1", "@new2"}]


def test_a_member_of_another_group_is_not_taken_for_one_by_name() -> None:
    bob = known("bob", member("@old1", "Bob"))
    result = match_members([bob], {CHESS: [member("@new1", "Bob", group=CHESS)]})
    assert dict(result.bound) == {} and result.updated == ()


def test_a_real_id_links_members_across_groups() -> None:
    bob = known("bob", member("@old1", "Bob", real_id="wxid_bob"))
    roster = [member("@new1", "Robert", real_id="wxid_bob", group=CHESS)]
    result = match_members([bob], {CHESS: roster})
    assert dict(result.bound) == {"@new1": "bob"}


def test_groups_that_disagree_hold_the_member() -> None:
    # One person (one UserName) in both groups: the club's Bob and the chess club's Bob
    # were two identities; nothing says which one this is.
    bob = known("bob", member("@old1", "Bob"))
    rob = known("rob", member("@old2", "Bob", group=CHESS))
    result = match_members(
        [bob, rob], {CLUB: [member("@new1", "Bob")], CHESS: [member("@new1", "Bob", group=CHESS)]}
    )
    assert dict(result.bound) == {}
    assert {i.id for i in result.updated if i.ambiguous} == {"bob", "rob"}


def test_rosters_leave_out_contacts_the_account_and_unbound_groups() -> None:
    listed = [
        GroupMember(Address("@@g1"), Profile(Address("@friend"), nick_name="F")),
        GroupMember(Address("@@g1"), Profile(Address("@me"), is_self=True)),
        GroupMember(Address("@@g1"), Profile(Address("@m1"), nick_name="M")),
        GroupMember(Address("@@held"), Profile(Address("@m2"), nick_name="N")),
    ]
    rosters = rosters_of(listed, {Address("@@g1"): CLUB}, [Address("@friend")])
    assert rosters == {CLUB: [Profile(Address("@m1"), nick_name="M")]}


def test_an_attr_status_seen_in_another_group_gives_way_to_a_bound_member() -> None:
    # Ann left the chess club; Bo (same AttrStatus) is in both groups and bound by name in
    # the club: AttrStatus, which only ever holds, does not hold him in the chess club.
    bo = known("bo", member("@old1", "Bo", attr=3, key="wxi"))
    ann = known("ann", member("@old2", "Ann", attr=3, key="wxi", group=CHESS))
    result = match_members(
        [bo, ann],
        {
            CLUB: [member("@new1", "Bo", attr=3, key="wxi")],
            CHESS: [member("@new1", "Bo", attr=3, key="wxi", group=CHESS)],
        },
    )
    assert dict(result.bound) == {"@new1": "bo"}
    assert not any(i.ambiguous for i in result.updated)
