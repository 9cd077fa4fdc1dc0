// A Matrix user's client as matrix-js-sdk (the SDK Element is built on) sees their own read
// receipt: reads one JSON request from stdin, {homeserver, user, password, room, event,
// timeout_ms}, logs in with the password, syncs, and waits (up to timeout_ms) until the room's
// m.read receipt of `user` (room.getReadReceiptForUserId, what Element's read marker uses) is
// on `event`. Prints {"receipt": event id or null, "ts": its timestamp or null} as the last
// line of stdout (the SDK logs its requests there too).
import { ClientEvent, RoomEvent } from "matrix-js-sdk";
import { logIn, readRequest } from "./session.mjs";

const request = await readRequest();
const { login, me } = await logIn(request);

function current() {
  const room = me.getRoom(request.room);
  // true: a real receipt only, not one the SDK synthesizes from the user's own messages.
  return room?.getReadReceiptForUserId(login.user_id, true) ?? null;
}

let timer;
const found = await new Promise((resolve) => {
  const check = () => {
    const receipt = current();
    if (receipt?.eventId === request.event) resolve(receipt);
  };
  timer = setTimeout(() => resolve(current()), request.timeout_ms ?? 20000);
  me.on(ClientEvent.Sync, (state) => {
    if (state === "PREPARED" || state === "SYNCING") check();
  });
  me.on(RoomEvent.Receipt, check);
  me.startClient({ initialSyncLimit: 5 }).then(check);
});
clearTimeout(timer);
me.stopClient();
await me.logout(true);
process.stdout.write(
  JSON.stringify({ receipt: found?.eventId ?? null, ts: found?.data?.ts ?? null }) + "\n",
);
process.exit(0);
