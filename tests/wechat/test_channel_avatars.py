"""WeChatChannel.avatar against the simulator: webwxgeticon through the live session at the
version HeadImgUrl names (PROTOCOL.md §9); the simulator's pictures per account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.wechat.avatars import icon_version
from adapters.wechat.channel import WeChatChannel, WeChatSettings
from adapters.wechat.simulator.demo import Demo
from bridge.channel import SupportsAvatars
from bridge.errors import BridgeError, NotLoggedIn
from bridge.model import Address
from tests.wechat.conftest import SimulatorHandle
from tests.wechat.test_channel import Tap, _login, _user_name


@pytest.fixture
async def channel(
    simulator: SimulatorHandle, demo: Demo, tmp_path: Path
) -> AsyncIterator[WeChatChannel]:
    control = simulator.control
    for n in (1, 2):  # two friends who use one picture
        await control.add_contact(demo.account, "Pat", wxid=f"wxid_pat{n}", avatar="beach")
    settings = WeChatSettings(base_url=simulator.base_url, session_path=tmp_path / "s.json")
    wechat = WeChatChannel(settings)
    tap: Tap = await _login(simulator, demo, wechat)
    yield wechat
    await wechat.stop()
    await tap.close()


async def test_avatars_are_fetched_through_the_session_per_account(
    simulator: SimulatorHandle, demo: Demo, channel: WeChatChannel
) -> None:
    assert isinstance(channel, SupportsAvatars)
    before = await simulator.control.icon_fetches(demo.account)
    at = {who: await _user_name(simulator, demo, who) for who in (demo.bob, demo.bob_twin)}
    bob, twin = [await channel.avatar(at[who]) for who in (demo.bob, demo.bob_twin)]
    assert bob.startswith(b"\xff\xd8") and bob != twin  # JPEGs of their own
    assert await channel.avatar(at[demo.bob]) == bob  # stable
    pat1, pat2 = [
        await channel.avatar(await _user_name(simulator, demo, f"wxid_pat{n}")) for n in (1, 2)
    ]
    assert pat1 == pat2 != bob  # the same picture, the same bytes
    assert await simulator.control.icon_fetches(demo.account) == before + 5

    with pytest.raises(BridgeError):
        await channel.avatar(Address("@unknown"))


async def test_no_avatar_without_a_session() -> None:
    with pytest.raises(NotLoggedIn):
        await WeChatChannel().avatar(Address("@someone"))


def test_the_icon_version_comes_from_head_img_url() -> None:
    url = "/cgi-bin/mmwebwx-bin/webwxgeticon?seq=620309873&username=@abc&skey=@crypt_x"
    assert icon_version(url) == ("620309873", "")
    member = "/cgi-bin/mmwebwx-bin/webwxgeticon?seq=0&username=@m&chatroomid=@e"
    assert icon_version(member) == ("0", "@e")
    assert icon_version("") == ("0", "")
