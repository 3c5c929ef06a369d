import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import type { App, RequestContext } from "../core/http/context.js";

/** API Gateway HTTP API (payload v2) event → web-standard Request, keeping the raw path and query for signatures. */
export function toRequest(event: APIGatewayProxyEventV2): { request: Request; context: Partial<RequestContext> } {
  const host = event.headers?.host ?? event.requestContext?.domainName ?? "localhost";
  const query = event.rawQueryString ?? "";
  const url = `https://${host}${event.rawPath}${query ? `?${query}` : ""}`;
  const headers = new Headers();
  for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) headers.set(name, value);
  if (event.cookies?.length) headers.set("cookie", event.cookies.join("; "));
  const method = event.requestContext?.http?.method ?? "GET";
  const hasBody = event.body !== undefined && event.body !== null && method !== "GET" && method !== "HEAD";
  const body = hasBody ? (event.isBase64Encoded ? new Uint8Array(Buffer.from(event.body as string, "base64")) : (event.body as string)) : undefined;
  const request = new Request(url, { method, headers, ...(body !== undefined && { body }) });
  return {
    request,
    context: {
      rawPath: event.rawPath,
      rawQuery: query,
      ...(event.requestContext?.requestId && { requestId: event.requestContext.requestId }),
    },
  };
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
export function httpHandler(getApp: () => Promise<App>) {
  return async (event: APIGatewayProxyEventV2, context?: Pick<Context, "getRemainingTimeInMillis">) => {
    const app = await getApp();
    const { request, context: requestContext } = toRequest(event);
    const response = await app.fetch(request, {
      ...requestContext,
      answerByMs: answerByMs(event, Date.now(), context?.getRemainingTimeInMillis?.()),
    });
    return fromResponse(response);
  };
}
