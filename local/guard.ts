import { timingSafeEqual } from "node:crypto";
import { ErrorCode, QueueError, quote } from "../core/errors.js";

/**
 * What the local server refuses before a request reaches the queue: it is meant for one machine, so by
 * default it answers only requests addressed to a loopback name, from no foreign web page, and (when
 * LOCAL_API_KEY is set) only callers that present the key.
 */
export interface GuardOptions {
  /** Host names served besides the loopback ones (LOCAL_HOSTS), lower case, without port. */
  allowedHosts?: readonly string[];
  /** When set, JSON API and /metrics requests other than GET /healthz must carry it (LOCAL_API_KEY). */
  apiKey?: string;
}

/** Environment variables of the guard. */
export const GUARD_ENV = { allowedHosts: "LOCAL_HOSTS", apiKey: "LOCAL_API_KEY" } as const;

export function guardOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): GuardOptions {
  const hosts = (env[GUARD_ENV.allowedHosts] ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");
  const apiKey = env[GUARD_ENV.apiKey];
  return { allowedHosts: hosts, ...(apiKey !== undefined && apiKey !== "" && { apiKey }) };
}

/** `name[:port]` or `[v6][:port]`, nothing else: no credentials, spaces, paths or empty ports. */
const HOST = /^(?:([A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?)|\[([0-9A-Fa-f:.]{2,45})\])(?::(\d{1,5}))?$/;

/** The host name of a Host header value (lower case, IPv6 in brackets), or undefined when it is malformed. */
export function parseHost(value: string): string | undefined {
  const match = HOST.exec(value);
  if (!match) return undefined;
  if (match[3] !== undefined && Number(match[3]) > 65535) return undefined;
  return match[1] !== undefined ? match[1].toLowerCase().replace(/\.$/, "") : `[${(match[2] as string).toLowerCase()}]`;
}

/** localhost, *.localhost (RFC 6761), 127.0.0.0/8 and [::1] name this machine whatever DNS says. */
export function isLoopbackName(host: string): boolean {
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    /^127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(host) ||
    host === "[::1]" ||
    host === "[0:0:0:0:0:0:0:1]"
  );
}

function allowed(host: string, options: GuardOptions): boolean {
  return isLoopbackName(host) || (options.allowedHosts ?? []).includes(host);
}

const forbidden = (message: string) => new QueueError(ErrorCode.Forbidden, message);

function sameKey(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface GuardedRequest {
  method: string;
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * The refusal for a request, or undefined when it may be served:
 * - `Host` malformed (400) or not a loopback name nor one of LOCAL_HOSTS (403): DNS rebinding cannot
 *   make a page's requests to evil.example reach this server;
 * - `Origin` of a web page on another host (403): no cross-origin page can send it anything, not even
 *   a body-less "simple" POST;
 * - with LOCAL_API_KEY, JSON API and /metrics requests without `Authorization: Bearer <key>` or
 *   `x-api-key: <key>` (401); GET /healthz and the console's static files stay open, and the RocketMQ door
 *   keeps its own signature check.
 */
export function guardRequest(request: GuardedRequest, options: GuardOptions): QueueError | undefined {
  const hostHeader = first(request.headers.host);
  if (hostHeader === undefined || hostHeader === "") {
    return new QueueError(ErrorCode.InvalidArgument, "the Host header is required; send e.g. Host: 127.0.0.1:8080");
  }
  const host = parseHost(hostHeader);
  if (host === undefined) {
    return new QueueError(ErrorCode.InvalidArgument, `the Host header ${quote(hostHeader)} is not a host name or address with an optional port`);
  }
  if (!allowed(host, options)) {
    return forbidden(
      `this local server answers only requests for localhost, 127.0.0.1 or [::1]${(options.allowedHosts ?? []).length > 0 ? " and LOCAL_HOSTS" : ""}; got Host ${quote(host)} (set LOCAL_HOSTS to serve another name)`,
    );
  }
  const origin = first(request.headers.origin);
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      const url = new URL(origin);
      originHost = url.protocol === "http:" || url.protocol === "https:" ? parseHost(url.host) : undefined;
    } catch {
      originHost = undefined;
    }
    if (originHost === undefined || !allowed(originHost, options)) {
      return forbidden(`requests from web pages of other origins are refused; got Origin ${quote(origin)}`);
    }
  }
  // The key guards what reads or changes the queue: the JSON API and /metrics (topic names, volumes). The
  // console's page and script hold no data and stay open: the page asks for the key and sends it with its calls.
  const keyed = request.path === "/healthz" || request.path.startsWith("/v1/") || request.path === "/metrics";
  if (options.apiKey !== undefined && keyed && !(request.method === "GET" && request.path === "/healthz")) {
    const bearer = /^Bearer (.+)$/i.exec(first(request.headers.authorization) ?? "")?.[1];
    const key = first(request.headers["x-api-key"]) ?? bearer;
    if (key === undefined || !sameKey(key, options.apiKey)) {
      return new QueueError(ErrorCode.Unauthorized, "this server requires its API key (LOCAL_API_KEY): send Authorization: Bearer <key> or x-api-key: <key>");
    }
  }
  return undefined;
}
