// What every script here starts with: the JSON request read from stdin, and a matrix-js-sdk
// client logged in with its {homeserver, user, password} (m.login.password).
import { createClient } from "matrix-js-sdk";

export async function readRequest() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

// Returns {login, me}: the login response and a client acting with its access token.
export async function logIn(request) {
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
  return { login, me };
}
