// A Matrix user as matrix-js-sdk (the SDK Element is built on) drives it: reads one JSON
// request from stdin, {homeserver, user, password, room, actions: [...]}, logs in with the
// password, runs each action in the room and prints {"events": [event ids]} as JSON, as the
// last line of stdout (the SDK logs its requests there too).
// Actions: {"send": content} (an m.room.message), {"edit": index, "body": text} (an
// m.replace of the action `index`'s event), {"react": index, "key": emoji}.
import { createClient } from "matrix-js-sdk";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const client = createClient({ baseUrl: request.homeserver });
const login = await client.loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: request.user },
  password: request.password,
});
const me = createClient({
  baseUrl: request.homeserver,
  userId: login.user_id,
  accessToken: login.access_token,
  deviceId: login.device_id,
});

const events = [];
for (const action of request.actions) {
  let content;
  let type = "m.room.message";
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
await me.logout(true);
process.stdout.write(JSON.stringify({ events }) + "\n");
