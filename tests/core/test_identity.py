"""Identity matching across WeChat re-logins: each rule and each ambiguity, one by one."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest

from bridge.identity import (
    Ambiguity,
    Identity,
    MatchResult,
    match_book,
    match_contact,
    resolve,
    update_fingerprint,
)
from bridge.model import Address, ChatKind, IdentityId, Profile


def ids() -> Callable[[Profile], IdentityId]:
    counter = itertools.count(1)
    return lambda profile: IdentityId(f"id-{next(counter)}")


NEW_ID = ids()


def contact(address: str, nick: str = "", **fields: Any) -> Profile:
    return Profile(Address(address), ChatKind.DIRECT, nick_name=nick, **fields)


def group(address: str, topic: str, members: Sequence[str] = ()) -> Profile:
    return Profile(Address(address), ChatKind.GROUP, nick_name=topic, members=frozenset(members))


def first_login(*book: Profile) -> list[Identity]:
    result = match_book([], book, new_id=NEW_ID)
    assert len(result.bound) == len(book)
    return list(result.created)


def relogin(known: Sequence[Identity], *book: Profile) -> MatchResult:
    return match_book(known, book, new_id=NEW_ID)


def apply(known: Sequence[Identity], result: MatchResult) -> list[Identity]:
    by_id = {i.id: i for i in known}
    by_id.update({i.id: i for i in (*result.updated, *result.created)})
    return list(by_id.values())


def bound(result: MatchResult) -> dict[str, str]:
    return {str(address): str(ident) for address, ident in result.bound.items()}


def test_first_login_creates_one_identity_per_contact() -> None:
    book = (contact("@a", "Alice"), contact("@b", "Alice"), group("@@g", "Family", ["x"]))
    result = match_book([], book, new_id=ids())
    assert result.bound == {"@a": "id-1", "@b": "id-2", "@@g": "id-3"}
    assert [i.fingerprint for i in result.created] == list(book)
    assert result.updated == () and result.ambiguous == ()


def test_unchanged_contact_keeps_its_identity_and_fingerprint_follows_the_new_username() -> None:
    (alice,) = first_login(contact("@a1", "Alice", city="Paris"))
    result = relogin([alice], contact("@a2", "Alice", city="Paris"))
    assert result.bound == {"@a2": alice.id}
    assert result.created == ()
    assert [i.fingerprint.address for i in result.updated] == ["@a2"]


def test_real_id_beats_every_other_field() -> None:
    (old,) = first_login(contact("@1", "Alice", real_id="wxid_a", remark_name="Mom", sex=2))
    renamed = contact("@2", "Al", real_id="wxid_a", remark_name="Ma", sex=1, alias="al")
    assert relogin([old], renamed).bound == {"@2": old.id}


def test_alias_beats_remark() -> None:
    by_alias, by_remark = first_login(
        contact("@1", "Ann", alias="ann88"), contact("@2", "Bea", remark_name="Boss")
    )
    result = relogin([by_alias, by_remark], contact("@3", "X", alias="ann88", remark_name="Boss"))
    assert result.bound == {"@3": by_alias.id}


def test_unique_remark_survives_a_rename() -> None:
    (mom,) = first_login(contact("@1", "Alice", remark_name="Mom"))
    assert relogin([mom], contact("@2", "Mother", remark_name="Mom")).bound == {"@2": mom.id}


def test_remark_shared_in_the_book_falls_back_to_nickname() -> None:
    (mom,) = first_login(contact("@1", "Alice", remark_name="Mom"))
    result = relogin(
        [mom], contact("@2", "Carol", remark_name="Mom"), contact("@3", "Alice", remark_name="Mom")
    )
    assert bound(result)["@3"] == mom.id
    assert bound(result)["@2"] != mom.id


def test_remark_shared_among_known_identities_is_not_a_key() -> None:
    one, two = first_login(
        contact("@1", "Alice", remark_name="Mom"), contact("@2", "Carol", remark_name="Mom")
    )
    result = relogin([one, two], contact("@3", "Carla", remark_name="Mom"))
    assert bound(result)["@3"] not in (one.id, two.id)


def test_remark_with_a_conflicting_alias_or_real_id_is_not_a_match() -> None:
    boss, other = first_login(
        contact("@1", "Bo", remark_name="Boss", alias="bo1"),
        contact("@2", "Cy", remark_name="Chief", real_id="wxid_c"),
    )
    result = relogin(
        [boss, other],
        contact("@3", "Bo", remark_name="Boss", alias="bo2"),
        contact("@4", "Cy", remark_name="Chief", real_id="wxid_d"),
    )
    assert set(result.bound.values()).isdisjoint({boss.id, other.id})


def test_nickname_with_compatible_fields_matches_and_empty_fields_never_conflict() -> None:
    (alice,) = first_login(contact("@1", "Alice", sex=2, city="Paris", signature=""))
    again = contact("@2", "Alice", sex=2, city="", province="IDF", signature="hi")
    assert relogin([alice], again).bound == {"@2": alice.id}


@pytest.mark.parametrize(
    "field",
    [
        {"sex": 1},
        {"province": "Lyon"},
        {"city": "Nice"},
        {"signature": "other"},
        {"attr_status": 7},
        {"alias": "x"},
        {"real_id": "wxid_x"},
    ],
)
def test_a_conflicting_field_rejects_the_nickname_match(field: dict[str, Any]) -> None:
    base = {"sex": 2, "province": "IDF", "city": "Paris", "signature": "s", "attr_status": 5}
    old_fields = base | {"remark_name": "Al", "alias": "a", "real_id": "wxid_a"}
    (alice,) = first_login(contact("@1", "Alice", **old_fields))
    result = relogin([alice], contact("@2", "Alice", **(base | field)))
    assert bound(result)["@2"] != alice.id
    assert len(result.created) == 1


def test_a_changed_remark_name_with_nothing_else_against_it_is_held() -> None:
    base = {"sex": 2, "province": "IDF", "attr_status": 5}
    (alice,) = first_login(contact("@1", "Alice", remark_name="Al", **base))
    result = relogin([alice], contact("@2", "Alice", remark_name="Ann", **base))
    assert result.bound == {}
    assert [(a.identities, a.addresses) for a in result.ambiguous] == [((alice.id,), ("@2",))]


@pytest.mark.parametrize(
    "field",
    [{"sex": 1}, {"province": "Lyon"}, {"city": "Nice"}, {"signature": "x"}, {"attr_status": 7}],
)
def test_a_conflicting_field_rejects_the_remark_name_match(field: dict[str, Any]) -> None:
    base = {"sex": 2, "province": "IDF", "city": "Paris", "signature": "s", "attr_status": 5}
    (boss,) = first_login(contact("@1", "Alice", remark_name="Boss", **base))
    result = relogin([boss], contact("@2", "Bea", remark_name="Boss", **(base | field)))
    assert bound(result)["@2"] != boss.id
    assert len(result.created) == 1


def test_two_new_lookalikes_of_one_identity_are_ambiguous() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    result = relogin([alice], contact("@2", "Alice"), contact("@3", "Alice"))
    assert result.bound == {}
    assert result.created == ()
    assert result.ambiguous == (Ambiguity((alice.id,), (Address("@2"), Address("@3"))),)
    (marked,) = result.updated
    assert marked.ambiguous and marked.candidates == ("@2", "@3")


def test_one_new_contact_matching_two_identities_is_ambiguous() -> None:
    one, two = first_login(contact("@1", "Alice"), contact("@2", "Alice"))
    result = relogin([one, two], contact("@3", "Alice"))
    assert result.bound == {}
    assert result.ambiguous == (Ambiguity(tuple(sorted((one.id, two.id))), (Address("@3"),)),)
    assert all(i.ambiguous and i.candidates == ("@3",) for i in result.updated)


def test_lookalikes_told_apart_by_a_field_are_both_kept() -> None:
    paris, nice = first_login(
        contact("@1", "Alice", city="Paris"), contact("@2", "Alice", city="Nice")
    )
    result = relogin([paris, nice], contact("@4", "Alice", city="Nice"), contact("@3", "Alice"))
    # "@3" (city hidden) could be either; then "@4" could be a newcomer from Nice: bind nothing.
    assert result.bound == {}
    result = relogin(
        [paris, nice], contact("@4", "Alice", city="Nice"), contact("@3", "Alice", city="Paris")
    )
    assert result.bound == {"@4": nice.id, "@3": paris.id}


def test_groups_match_by_topic_and_member_overlap() -> None:
    (family,) = first_login(group("@@1", "Family", ["mum", "dad", "me", "sis"]))
    result = relogin([family], group("@@2", "Family", ["mum", "dad", "me", "bro"]))
    assert result.bound == {"@@2": family.id}


def test_same_topic_groups_with_disjoint_members_are_not_merged() -> None:
    (work,) = first_login(group("@@1", "Team", ["ann", "bob", "cy"]))
    result = relogin([work], group("@@2", "Team", ["dan", "eve", "fay"]))
    assert bound(result)["@@2"] != work.id
    assert len(result.created) == 1


def test_same_topic_groups_are_told_apart_by_their_members() -> None:
    a, b = first_login(group("@@1", "Team", ["ann", "bob"]), group("@@2", "Team", ["cy", "dan"]))
    result = relogin([a, b], group("@@4", "Team", ["cy", "dan"]), group("@@3", "Team", ["ann"]))
    assert result.bound == {"@@3": a.id, "@@4": b.id}


def test_group_overlap_threshold_is_configurable() -> None:
    (team,) = first_login(group("@@1", "Team", ["a", "b", "c", "d"]))
    moved = group("@@2", "Team", ["a", "b", "x", "y"])  # Jaccard 2/6
    assert bound(match_book([team], [moved], new_id=NEW_ID))["@@2"] != team.id
    assert bound(match_book([team], [moved], new_id=NEW_ID, min_overlap=0.3))["@@2"] == team.id


def test_a_group_whose_members_are_not_known_yet_matches_on_topic() -> None:
    (team,) = first_login(group("@@1", "Team", ["a", "b"]))
    assert relogin([team], group("@@2", "Team")).bound == {"@@2": team.id}


def test_a_group_never_matches_a_contact() -> None:
    (family,) = first_login(group("@@1", "Family"))
    result = relogin([family], contact("@2", "Family"))
    assert bound(result)["@2"] != family.id


def test_ambiguity_is_sticky_until_resolved_or_a_real_id_or_alias_appears() -> None:
    (alice,) = first_login(contact("@1", "Alice", remark_name=""))
    known = apply([alice], relogin([alice], contact("@2", "Alice"), contact("@3", "Alice")))
    # One of the two left: the other may still be her; nothing is bound.
    result = relogin(known, contact("@4", "Alice"))
    assert result.bound == {}
    assert result.ambiguous == (Ambiguity((alice.id,), (Address("@4"),)),)
    known = apply(known, result)
    # Nobody alike: still ambiguous, without candidates; the contact gets its own identity.
    result = relogin(known, contact("@5", "Bob"))
    (stale,) = result.updated
    assert stale.ambiguous and stale.candidates == ()
    # A RemarkName is no proof: the user may have given it to the lookalike too.
    known = [
        attrs_evolve_fp(i, remark_name="Sis", alias="ali") if i.id == alice.id else i
        for i in apply(known, result)
    ]
    result = relogin(known, contact("@6", "Alice", remark_name="Sis"))
    assert result.bound == {}
    # Her Alias (or real id) is.
    result = relogin(known, contact("@7", "Alice", alias="ali"))
    assert result.bound == {"@7": alice.id}
    assert not result.updated[0].ambiguous


def attrs_evolve_fp(identity: Identity, **fields: Any) -> Identity:
    return attrs.evolve(identity, fingerprint=attrs.evolve(identity.fingerprint, **fields))


def test_resolve_binds_the_chosen_contact_and_gives_the_other_its_own_identity() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    book = (contact("@2", "Alice"), contact("@3", "Alice", city="Oslo"))
    known = apply([alice], relogin([alice], *book))
    result = resolve(known, alice.id, Address("@3"), book, new_id=NEW_ID)
    assert bound(result)["@3"] == alice.id
    (other,) = result.created
    assert bound(result)["@2"] == other.id and other.fingerprint == book[0]
    (resolved,) = result.updated
    assert not resolved.ambiguous and resolved.fingerprint.city == "Oslo"
    assert result.ambiguous == ()


def test_resolve_keep_apart_gives_every_candidate_its_own_identity() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    book = (contact("@2", "Alice"), contact("@3", "Alice"))
    known = apply([alice], relogin([alice], *book))
    result = resolve(known, alice.id, None, book, new_id=NEW_ID)
    assert alice.id not in result.bound.values()
    assert set(result.bound) == {"@2", "@3"} and len(result.created) == 2
    assert not result.updated[0].ambiguous


def test_resolving_one_of_two_identities_leaves_the_shared_contact_to_the_other() -> None:
    one, two = first_login(contact("@1", "Alice"), contact("@2", "Alice"))
    book = (contact("@3", "Alice"), contact("@4", "Alice"))
    known = apply([one, two], relogin([one, two], *book))
    result = resolve(known, one.id, Address("@3"), book, new_id=NEW_ID)
    assert result.bound == {"@3": one.id}  # "@4" may still be two's: not given away
    assert result.created == ()
    by_id = {i.id: i for i in result.updated}
    assert by_id[two.id].ambiguous and by_id[two.id].candidates == ("@4",)
    assert result.ambiguous == (Ambiguity((two.id,), (Address("@4"),)),)
    known = apply(known, result)
    result = resolve(known, two.id, Address("@4"), book, new_id=NEW_ID)
    assert result.bound == {"@4": two.id}


def test_resolve_refuses_what_is_not_a_candidate() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    with pytest.raises(ValueError, match="not ambiguous"):
        resolve([alice], alice.id, None, (), new_id=NEW_ID)
    book = (contact("@2", "Alice"), contact("@3", "Alice"))
    known = apply([alice], relogin([alice], *book))
    with pytest.raises(ValueError, match="candidate"):
        resolve(known, alice.id, Address("@9"), book, new_id=NEW_ID)


def test_update_fingerprint_follows_renames_and_keeps_learnt_keys() -> None:
    (alice,) = first_login(contact("@1", "Alice", real_id="wxid_a"))
    renamed = update_fingerprint(alice, contact("@1", "Alicia", remark_name="Sis"))
    assert renamed.fingerprint.nick_name == "Alicia"
    assert renamed.fingerprint.real_id == "wxid_a"
    assert relogin([renamed], contact("@2", "Alicia")).bound == {"@2": alice.id}
    with pytest.raises(ValueError):
        update_fingerprint(alice, group("@1", "Alicia"))


def test_update_fingerprint_refuses_an_ambiguous_identity() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    (marked,) = relogin([alice], contact("@2", "Alice"), contact("@3", "Alice")).updated
    with pytest.raises(ValueError, match="ambiguous"):
        update_fingerprint(marked, contact("@2", "Alice"))


def test_identities_sharing_a_real_id_bind_the_one_that_still_fits() -> None:
    # The same person got a second identity after an offline rename; both learnt her wxid.
    old = Identity.from_profile(IdentityId("old"), contact("@1", "Ann", real_id="wxid_a"))
    new = Identity.from_profile(IdentityId("new"), contact("@2", "Anna", real_id="wxid_a"))
    result = relogin([old, new], contact("@3", "Anna", real_id="wxid_a"), contact("@4", "Ann"))
    assert bound(result)["@3"] == "new"
    assert bound(result)["@4"] != "old"  # the old one is hers, not this other Ann's


def test_mid_session_contact_matches_a_dormant_identity() -> None:
    _, alice = first_login(contact("@1", "Bob"), contact("@2", "Alice", sex=2))
    session = [contact("@3", "Bob")]
    result = match_contact(contact("@4", "Alice", sex=2), [alice], new_id=NEW_ID, session=session)
    assert result.bound == {"@4": alice.id}


def test_mid_session_lookalike_joins_the_candidates_of_an_ambiguous_identity() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    (marked,) = relogin([alice], contact("@2", "Alice"), contact("@3", "Alice")).updated
    result = match_contact(contact("@4", "Alice"), [marked], new_id=NEW_ID)
    assert result.bound == {}
    assert result.updated[0].candidates == ("@2", "@3", "@4")
    assert result.ambiguous == (
        Ambiguity((alice.id,), (Address("@2"), Address("@3"), Address("@4"))),
    )


def test_mid_session_change_of_a_contested_contact_is_matched_afresh() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    (marked,) = relogin([alice], contact("@2", "Alice"), contact("@3", "Alice")).updated
    result = match_contact(contact("@3", "Zed"), [marked], new_id=NEW_ID)
    (zed,) = result.created
    assert bound(result) == {"@3": zed.id}
    (still,) = result.updated
    assert still.ambiguous and still.candidates == ("@2",)
    assert result.ambiguous == (Ambiguity((alice.id,), (Address("@2"),)),)
    unchanged = match_contact(contact("@2", "Alice", city="Rome"), [still], new_id=NEW_ID)
    assert unchanged.bound == {} and unchanged.updated == ()
    assert unchanged.ambiguous == (Ambiguity((alice.id,), (Address("@2"),)),)


def test_mid_session_remark_shared_with_the_session_is_not_a_key() -> None:
    (mom,) = first_login(contact("@1", "Alice", remark_name="Mom"))
    session = [contact("@2", "Carol", remark_name="Mom")]
    result = match_contact(
        contact("@3", "Zed", remark_name="Mom"), [mom], new_id=NEW_ID, session=session
    )
    assert bound(result)["@3"] != mom.id


def test_bad_input_is_refused() -> None:
    (alice,) = first_login(contact("@1", "Alice"))
    with pytest.raises(ValueError, match="twice"):
        relogin([alice, alice])
    with pytest.raises(ValueError, match="taken"):
        match_book([alice], [contact("@2", "Bob")], new_id=lambda p: alice.id)


def test_a_crowd_of_lookalikes_is_one_ambiguity() -> None:
    known = first_login(*(contact(f"@a{i}", "微信用户") for i in range(300)))
    result = relogin(known, *(contact(f"@b{i}", "微信用户") for i in range(300)))
    assert result.bound == {}
    (crowd,) = result.ambiguous
    assert len(crowd.identities) == len(crowd.addresses) == 300
    assert all(len(i.candidates) == 300 for i in result.updated)


# ---- adversarial changes between logins (issue 12) --------------------------------------------


def held_pairs(result: MatchResult) -> set[tuple[frozenset[str], frozenset[str]]]:
    return {(frozenset(a.identities), frozenset(a.addresses)) for a in result.ambiguous}


def test_swapped_nick_names_are_held_by_their_attr_status() -> None:
    nina, olga = first_login(
        contact("@1", "Nina", sex=2, attr_status=11), contact("@2", "Olga", sex=2, attr_status=22)
    )
    result = relogin(
        [nina, olga],
        contact("@3", "Olga", sex=2, attr_status=11),
        contact("@4", "Nina", sex=2, attr_status=22),
    )
    assert result.bound == {}
    assert held_pairs(result) == {
        (frozenset({nina.id}), frozenset({"@3"})),
        (frozenset({olga.id}), frozenset({"@4"})),
    }


def test_swapped_remark_names_of_people_apart_are_held_not_swapped() -> None:
    boss, landlord = first_login(
        contact("@1", "Peter", sex=1, remark_name="Boss"),
        contact("@2", "Paula", sex=2, remark_name="Landlord"),
    )
    result = relogin(
        [boss, landlord],
        contact("@3", "Peter", sex=1, remark_name="Landlord"),
        contact("@4", "Paula", sex=2, remark_name="Boss"),
    )
    assert result.bound == {}
    assert held_pairs(result) == {
        (frozenset({boss.id}), frozenset({"@3"})),
        (frozenset({landlord.id}), frozenset({"@4"})),
    }


def test_a_remark_name_moved_to_someone_who_could_be_either_holds_both() -> None:
    # The user gave "Boss" to Yan (nothing tells Yan from Xu's old self but the NickName),
    # Xu lost it: the remark proves nothing now.
    xu, yan = first_login(contact("@1", "Xu", remark_name="Boss"), contact("@2", "Yan"))
    result = relogin([xu, yan], contact("@3", "Xu"), contact("@4", "Yan", remark_name="Boss"))
    assert "@4" not in result.bound
    assert {xu.id, yan.id} <= {i for a in result.ambiguous for i in a.identities}


def test_a_deleted_contact_and_a_new_look_alike_are_told_apart_by_attr_status() -> None:
    (quinn,) = first_login(contact("@1", "Quinn", sex=1, province="Hubei", attr_status=7))
    result = relogin([quinn], contact("@2", "Quinn", sex=1, province="Hubei", attr_status=8))
    assert bound(result)["@2"] != quinn.id
    assert [i.fingerprint.attr_status for i in result.created] == [8]


def test_a_group_renamed_to_another_groups_topic_is_held_by_its_members() -> None:
    club, climbing = first_login(
        group("@@1", "Book Club", ["a", "b", "c"]), group("@@2", "Climbing", ["x", "y", "z"])
    )
    result = relogin(
        [club, climbing],
        group("@@3", "Climbing", ["a", "b", "c"]),
        group("@@4", "Climbing", ["x", "y", "z"]),
    )
    assert result.bound == {"@@4": climbing.id}
    assert held_pairs(result) == {(frozenset({club.id}), frozenset({"@@3"}))}


def test_an_attr_status_many_share_holds_nobody() -> None:
    ann, bea = first_login(contact("@1", "Ann", attr_status=4), contact("@2", "Bea", attr_status=4))
    result = relogin(
        [ann, bea], contact("@3", "Cleo", attr_status=4), contact("@4", "Dora", attr_status=4)
    )
    assert result.ambiguous == ()
    assert len(result.created) == 2
