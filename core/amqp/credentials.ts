import { createHash, timingSafeEqual } from "node:crypto";

/** The variable holding the door's users: `user:password,user2:password2`. */
export const AMQP_CREDENTIALS_ENV = "AMQP_CREDENTIALS";

/** RabbitMQ's own default user, accepted (as RabbitMQ does) only from a loopback address and only when no users are configured. */
export const DEFAULT_AMQP_USER = { user: "guest", password: "guest" } as const;

export interface AmqpUsers {
  /** Configured users; undefined: the loopback-only default. */
  users: Map<string, string> | undefined;
}

/**
 * Parses AMQP_CREDENTIALS; a malformed entry throws naming it (startup fails fast). Two forms: the list
 * `user:password,user2:password2`, or one user as the JSON object a Secrets Manager secret generated with
 * a password key holds, `{"username":"…","password":"…"}` (the whole secret injected as the variable).
 */
export function parseAmqpCredentials(raw: string | undefined): AmqpUsers {
  if (raw === undefined || raw.trim() === "") return { users: undefined };
  if (raw.trim().startsWith("{")) return { users: new Map([jsonUser(raw)]) };
  const users = new Map<string, string>();
  for (const entry of raw.split(",")) {
    const at = entry.indexOf(":");
    const user = at < 0 ? "" : entry.slice(0, at).trim();
    const password = at < 0 ? "" : entry.slice(at + 1);
    if (user === "" || password === "") throw new Error(`${AMQP_CREDENTIALS_ENV}: each entry is user:password with both parts non-empty; got ${JSON.stringify(entry.replace(/:.*/, ":…"))}`);
    users.set(user, password);
  }
  return { users };
}

function jsonUser(raw: string): [string, string] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${AMQP_CREDENTIALS_ENV}: starts with "{" but is not JSON; expected {"username":"…","password":"…"}`);
  }
  const { username, password } = (parsed ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== "string" || username === "" || typeof password !== "string" || password === "") {
    throw new Error(`${AMQP_CREDENTIALS_ENV}: a JSON value needs non-empty string fields "username" and "password"`);
  }
  return [username, password];
}

function same(a: string, b: string): boolean {
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

/** Whether a login is accepted from a peer (`loopback`: it connected from 127.0.0.0/8 or ::1). */
export function checkAmqpLogin(config: AmqpUsers, user: string, password: string, loopback: boolean): boolean {
  if (config.users === undefined) return loopback && same(user, DEFAULT_AMQP_USER.user) && same(password, DEFAULT_AMQP_USER.password);
  const expected = config.users.get(user);
  // Compare anyway, so an unknown user takes as long as a wrong password.
  const ok = same(password, expected ?? "\0unknown");
  return expected !== undefined && ok;
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}
