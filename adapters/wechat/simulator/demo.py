"""The demo account of ``python -m adapters.wechat.simulator --demo``, built via the control API."""

from __future__ import annotations

import attrs

from .control import SimulatorControl

DEMO_ACCOUNT = "wxid_demo_account"


@attrs.frozen
class Demo:
    """Ids of what :func:`create_demo` made (real ids, stable across logins)."""

    account: str
    alice: str
    bob: str
    bob_twin: str
    carol: str
    dave: str
    stranger: str
    group: str


async def create_demo(control: SimulatorControl, *, auto_scan: bool = False) -> Demo:
    """Create the demo account: Alice (RemarkName "Alice (work)"), two contacts both named
    "Bob", Carol (Alias ``carol_w``), Dave, and the group "Weekend Hike" with Alice, one Bob,
    Carol and Eve (a group member who is not a friend). ``auto_scan`` makes the demo phone
    confirm every QR and push login by itself.
    """
    account = await control.create_account("Demo User", wxid=DEMO_ACCOUNT, auto_scan=auto_scan)
    alice = await control.add_contact(
        account, "Alice", wxid="wxid_alice", remark_name="Alice (work)", sex=2, city="Shenzhen"
    )
    bob = await control.add_contact(account, "Bob", wxid="wxid_bob", sex=1)
    bob_twin = await control.add_contact(account, "Bob", wxid="wxid_bob_twin", sex=1)
    carol = await control.add_contact(account, "Carol", wxid="wxid_carol", alias="carol_w")
    dave = await control.add_contact(account, "Dave \U0001f600", wxid="wxid_dave")
    stranger = await control.add_contact(account, "Eve", wxid="wxid_eve", friend=False)
    group = await control.add_group(
        account,
        "Weekend Hike",
        [alice, bob, carol, stranger],
        group_id="1000000001@chatroom",
        display_names={carol: "Carol W."},
    )
    return Demo(account, alice, bob, bob_twin, carol, dave, stranger, group)
