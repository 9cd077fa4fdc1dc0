// A Matrix user as matrix-js-sdk (the SDK Element is built on) drives it: reads one JSON
// request from stdin, {homeserver, user, password, room, actions: [...]}, logs in with the
// password, runs each action in the room and prints {"events": [event ids]} as JSON, as the
// last line of stdout (the SDK logs its requests there too).
// Actions: {"send": content} (an m.room.message), {"edit": index, "body": text} (an
// m.replace of the action `index`'s event), {"react": index, "key": emoji}, {"read": index or
// null, "target"?: event id} (the read markers Element sets: m.fully_read and m.read on the
// event), {"await_delivery": index, "within_ms"?: 20000} (sync until someone else's read
// receipt and a com.beeper.message_send_status on the action `index`'s event arrived).
// The output's "deliveries" lists, per await_delivery, {"event", "read_by", "statuses"}.
import { ClientEvent, RoomEvent } from "matrix-js-sdk";
import { logIn, readRequest } from "./session.mjs";

const request = await readRequest();
const { login, me } = await logIn(request);

// Who the homeserver says read which event (m.receipt "m.read"): the SDK's own view moves a
// user's receipt to the last event they sent, so the raw receipts are kept as they came.
const receiptsOf = new Map();
me.on(RoomEvent.Receipt, (event, room) => {
  if (room.roomId !== request.room) return;
  for (const [eventId, kinds] of Object.entries(event.getContent())) {
    for (const userId of Object.keys(kinds["m.read"] ?? {})) {
      if (!receiptsOf.has(eventId)) receiptsOf.set(eventId, new Set());
      receiptsOf.get(eventId).add(userId);
    }
  }
});

let syncing = null;
function startSync() {
  syncing ??= new Promise((resolve) => {
    me.on(ClientEvent.Sync, (state) => {
      if (state === "PREPARED" || state === "SYNCING") resolve();
    });
    me.startClient({ initialSyncLimit: 50 });
  });
  return syncing;
}

// Polls the synced room until `eventId` has someone else's read receipt and a send status.
async function awaitDelivery(eventId, withinMs) {
  await startSync();
  const deadline = Date.now() + withinMs;
  for (;;) {
    const room = me.getRoom(request.room);
    const event = room?.findEventById(eventId);
    if (room && event) {
      const readBy = [...(receiptsOf.get(eventId) ?? [])].filter((u) => u !== me.getUserId());
      const statuses = room
        .getLiveTimeline()
        .getEvents()
        .filter((e) => e.getType() === "com.beeper.message_send_status")
        .map((e) => e.getContent())
        .filter((c) => c["m.relates_to"]?.event_id === eventId);
      if (readBy.length && statuses.length) return { event: eventId, read_by: readBy, statuses };
    }
    if (Date.now() > deadline) throw new Error(`no receipt and send status on ${eventId}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const events = [];
const deliveries = [];
for (const action of request.actions) {
  let content;
  let type = "m.room.message";
  if (action.read !== undefined) {
    const target = action.target ?? events[action.read];
    await me.setRoomReadMarkersHttpRequest(request.room, target, target);
    events.push(target);
    continue;
  }
  if (action.await_delivery !== undefined) {
    const eventId = events[action.await_delivery];
    deliveries.push(await awaitDelivery(eventId, action.within_ms ?? 20000));
    events.push(eventId);
    continue;
  }
  if (action.send) {
    content = action.send;
  } else if (action.edit !== undefined) {
    content = {
      msgtype: "m.text",
      body: `* ${action.body}`,
      "m.new_content": { msgtype: "m.text", body: action.body },
      "m.relates_to": { rel_type: "m.replace", event_id: events[action.edit] },
    };
  } else if (action.react !== undefined) {
    type = "m.reaction";
    content = {
      "m.relates_to": {
        rel_type: "m.annotation",
        event_id: action.target ?? events[action.react],
        key: action.key,
      },
    };
  } else {
    throw new Error(`unknown action ${JSON.stringify(action)}`);
  }
  const sent = await me.sendEvent(request.room, type, content);
  events.push(sent.event_id);
}
me.stopClient();
await me.logout(true);
// A synced client leaves timers behind: end once the answer is written.
process.stdout.write(JSON.stringify({ events, deliveries }) + "\n", () => process.exit(0));
