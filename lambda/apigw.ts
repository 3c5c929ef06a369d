import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { ErrorCode, QueueError } from "../core/errors.js";
import { REQUEST_BODY_LIMIT_BYTES, isFetchMethod, methodNotServed, requestTooLarge } from "../core/http/body.js";
import type { App, RequestContext } from "../core/http/context.js";

/** A host name or address with an optional port, nothing else (no credentials, no spaces). */
const HOST = /^(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

export type Converted =
  | { request: Request; context: Partial<RequestContext> }
  | { refused: QueueError; path: string; context: Partial<RequestContext> };

/**
 * API Gateway HTTP API (payload v2) event → web-standard Request, keeping the raw path and query for
 * signatures. An event that cannot be a valid request (a method the Fetch API cannot carry, a body over
 * the request limit, a path that is not a URL path) is refused here, before any body is parsed.
 */
export function toRequest(event: APIGatewayProxyEventV2): Converted {
  const query = event.rawQueryString ?? "";
  const rawPath = event.rawPath ?? "/";
  const context: Partial<RequestContext> = {
    rawPath,
    rawQuery: query,
    ...(event.requestContext?.requestId && { requestId: event.requestContext.requestId }),
  };
  const method = event.requestContext?.http?.method ?? "GET";
  if (!isFetchMethod(method)) return { refused: methodNotServed(method), path: rawPath, context };
  const hasBody = event.body !== undefined && event.body !== null && method !== "GET" && method !== "HEAD";
  const body = hasBody ? (event.isBase64Encoded ? new Uint8Array(Buffer.from(event.body as string, "base64")) : (event.body as string)) : undefined;
  const bytes = body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
  if (bytes > REQUEST_BODY_LIMIT_BYTES) return { refused: requestTooLarge(bytes), path: rawPath, context };

  const hostHeader = event.headers?.host;
  const host = event.requestContext?.domainName ?? (hostHeader && HOST.test(hostHeader) ? hostHeader : "localhost");
  const headers = new Headers();
  try {
    for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) headers.set(name, value);
    if (event.cookies?.length) headers.set("cookie", event.cookies.join("; "));
    const url = `https://${host}${rawPath.startsWith("/") ? rawPath : `/${rawPath}`}${query ? `?${query}` : ""}`;
    return { request: new Request(url, { method, headers, ...(body !== undefined && { body }) }), context };
  } catch {
    return { refused: new QueueError(ErrorCode.InvalidArgument, "the request's path, query or headers cannot be read as HTTP; send a plain request"), path: rawPath, context };
  }
}

export async function fromResponse(response: Response): Promise<APIGatewayProxyStructuredResultV2> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const text = await response.text();
  return { statusCode: response.status, headers, body: text, isBase64Encoded: false };
}

/** API Gateway HTTP APIs cut an integration at 30 s, counted from the request's arrival. */
export const INTEGRATION_TIMEOUT_MS = 30_000;

/**
 * When the answer must be on its way: API Gateway's limit counted from the request's arrival
 * (`requestContext.timeEpoch` — a slow cold start has used part of it already), or the function's
 * remaining time, whichever comes first.
 */
export function answerByMs(event: APIGatewayProxyEventV2, nowMs: number, remainingMs?: number): number {
  const arrivedMs = event.requestContext?.timeEpoch;
  const gateway = typeof arrivedMs === "number" && arrivedMs > 0 && arrivedMs <= nowMs ? arrivedMs + INTEGRATION_TIMEOUT_MS : nowMs + INTEGRATION_TIMEOUT_MS;
  return remainingMs === undefined ? gateway : Math.min(gateway, nowMs + remainingMs);
}

/** A Lambda handler serving `app`, built lazily once per container. */
export function httpHandler(getApp: (context?: Partial<Context>) => Promise<App>) {
  return async (event: APIGatewayProxyEventV2, context?: Partial<Context>) => {
    const app = await getApp(context);
    const converted = toRequest(event);
    if ("refused" in converted) return fromResponse(app.refuse(converted.path, converted.refused, converted.context));
    const response = await app.fetch(converted.request, {
      ...converted.context,
      answerByMs: answerByMs(event, Date.now(), context?.getRemainingTimeInMillis?.()),
    });
    return fromResponse(response);
  };
}
