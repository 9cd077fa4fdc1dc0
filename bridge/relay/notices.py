"""The texts of the notices the relay sends when something could not be done."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from bridge.model import Address, Content, Link, Location, Media, Notice, Profile, Text

QUOTE_CHARS = 40


def quote(content: Content | None) -> str:
    """A short quote naming a message: its text cut to ``QUOTE_CHARS``, or its kind."""
    match content:
        case Text(body=body) | Notice(text=body):
            text = " ".join(body.split())
            cut = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
            return f"“{cut}”"
        case Media(kind=kind, filename=filename):
            return f"[{kind.value}{': ' + filename if filename else ''}]"
        case Location(label=label):
            return f"[location{': ' + label if label else ''}]"
        case Link(url=url):
            return f"[link: {url}]"
        case None:
            return "a message"


def not_delivered(content: Content | None, target: str, reason: str) -> Notice:
    """Your message ``content`` did not reach ``target`` (a channel name) because ``reason``."""
    return Notice(f"⚠ Not delivered to {target}: {quote(content)} — {reason}")


def not_revoked(content: Content | None, target: str, reason: str) -> Notice:
    """The recall of ``content`` could not be carried out on ``target`` because ``reason``."""
    return Notice(f"⚠ Could not recall {quote(content)} on {target}: {reason}")


def held(sender: str, candidates: Sequence[str], target: str) -> Notice:
    """A message from ``sender`` is held until the user says which contact this chat is."""
    names = ", ".join(candidates) or "several contacts"
    return Notice(
        f"⏸ A message from {sender} is waiting: after the {target} re-login this chat could be "
        f"any of {names}. Use the bot's 'resolve' command to say which one it is; held "
        "messages are delivered then."
    )


def _facts(profile: Profile, avatar_label: str) -> dict[str, str]:
    """What WeChat shows of ``profile`` that can tell a look-alike apart, by kind of fact."""
    place = " ".join(p for p in (profile.province, profile.city) if p)
    return {
        "remark": f"remark “{profile.remark_name}”" if profile.remark_name else "no remark",
        "nickname": f"nickname {profile.nick_name}" if profile.nick_name else "no nickname",
        "alias": f"WeChat ID {profile.alias}" if profile.alias else "no WeChat ID",
        "real id": f"id {profile.real_id}" if profile.real_id else "id unknown",
        "sex": {1: "male", 2: "female"}.get(profile.sex, "sex not shown"),
        "region": place or "no region",
        "signature": f"“{profile.signature}”" if profile.signature else "no signature",
        "AttrStatus": f"AttrStatus {profile.attr_status}"
        if profile.attr_status
        else "AttrStatus unknown",
        "avatar": avatar_label,
    }


def _avatar_letters(profiles: Sequence[Profile]) -> dict[str, str]:
    """ "A", "B"… for each distinct fetched avatar of ``profiles``, by hash, in order."""
    letters: dict[str, str] = {}
    for p in profiles:
        if p.avatar_hash and p.avatar_hash not in letters:
            letters[p.avatar_hash] = chr(ord("A") + len(letters) % 26)
    return letters


def differences(profiles: Sequence[Profile]) -> tuple[list[list[str]], list[str]]:
    """What tells the look-alikes ``profiles`` apart: for each, the facts whose values differ
    among them (remark, nickname, WeChat ID, real id, sex, region, signature, AttrStatus,
    avatar: "avatar A", "avatar B"… by hash, "avatar not fetched"); and the facts they all
    share (e.g. "same avatar"). Facts none of them shows are left out."""
    letters = _avatar_letters(profiles)
    facts = [
        _facts(p, f"avatar {letters[p.avatar_hash]}" if p.avatar_hash else "avatar not fetched")
        for p in profiles
    ]
    empty = _facts(Profile(Address("")), "avatar not fetched")
    differing: list[list[str]] = [[] for _ in profiles]
    common: list[str] = []
    for kind in empty:
        values = {f[kind] for f in facts}
        if len(values) > 1:
            for line, f in zip(differing, facts, strict=True):
                line.append(f[kind])
        elif values != {empty[kind]} and kind != "nickname":
            common.append("same avatar" if kind == "avatar" else facts[0][kind])
    return differing, common


def tell_apart(profiles: Sequence[Profile]) -> tuple[list[str], list[str]]:
    """Each of ``profiles`` as its name and what tells it from the others, joined by " · ";
    and the facts they all share (see ``differences``)."""
    differing, common = differences(profiles)
    lines = [" · ".join([p.display_name, *d]) for p, d in zip(profiles, differing, strict=True)]
    return lines, common


def held_chat(sender: str, chats: Sequence[str], candidates: Sequence[Profile], target: str) -> str:
    """The management-room notice of a held chat, sent once: a message from ``sender`` waits
    because after the ``target`` re-login the chats ``chats`` (names, with their rooms) could
    be any of ``candidates``, described by what tells them apart (``tell_apart``)."""
    lines, common = tell_apart(candidates)
    where = ", ".join(chats) or "a chat"
    text = [
        f"⏸ A {target} message from {sender} is held: after the {target} re-login, {where} "
        "could be any of these contacts:"
    ]
    text += [f"  {n}) {line}" for n, line in enumerate(lines, 1)]
    if len(set(lines)) < len(lines):
        text.append(
            f"  Nothing {target} shows tells them apart"
            + (f" (all: {', '.join(common)})" if common else "")
            + "; the phone can (e.g. give one a RemarkName)."
        )
    elif common:
        text.append(f"  All of them: {', '.join(common)}.")
    text.append(
        "Send `resolve` to say which is which; the held messages are delivered then, in order."
    )
    return "\n".join(text)


#: Avatars shown under a held chat's notice, at most (one icon request each).
HELD_AVATARS = 6


@attrs.frozen
class HeldChat:
    """A newly held chat, for the user's management room: the notice ``text``
    (``held_chat``) and the candidates whose avatars to show under it, as ``(caption,
    address)`` in the notice's order, at most ``HELD_AVATARS`` (addresses of side A's
    current session, fetched with ``SupportsAvatars``)."""

    text: str
    avatars: tuple[tuple[str, Address], ...] = ()


def held_chat_notice(
    sender: str, chats: Sequence[str], candidates: Sequence[Profile], target: str
) -> HeldChat:
    """``held_chat`` with the candidates' avatars to show under it, each captioned with its
    number in the notice, its name and its avatar letter when the avatar was compared
    ("Avatar of 2) Lee (avatar B)")."""
    letters = _avatar_letters(candidates)
    avatars = tuple(
        (
            f"Avatar of {n}) {p.display_name}"
            + (f" (avatar {letters[p.avatar_hash]})" if p.avatar_hash else ""),
            p.address,
        )
        for n, p in enumerate(candidates[:HELD_AVATARS], 1)
    )
    return HeldChat(held_chat(sender, chats, candidates, target), avatars)


@attrs.frozen
class UserNotice:
    """A notice for the user's management room: ``text``, then each of ``images`` as
    ``(caption, picture bytes)``."""

    text: str
    images: tuple[tuple[str, bytes], ...] = ()
