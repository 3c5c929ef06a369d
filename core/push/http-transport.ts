import type { PushRequest, PushResult, PushTransport } from "./ports.js";
import { SIGNATURE_HEADER, signatureHeader } from "./signature.js";
import { PushType } from "./target.js";

/** Longest part of a failing answer's body kept for the log. */
const ERROR_BODY_CHARS = 200;

/**
 * HTTP pushes: a POST of the payload as JSON, signed, with the idempotency key. A 2xx answer is success;
 * any other status (redirects are not followed), a network error or the timeout is a failed attempt.
 */
export function httpTransport(fetchImpl: typeof fetch = fetch): PushTransport {
  return {
    async send(request: PushRequest, signal: AbortSignal): Promise<PushResult> {
      const { target, payload, body } = request;
      if (target.type !== PushType.Http) return { ok: false, error: `not an http target: ${target.type}` };
      const headers: Record<string, string> = {
        ...target.headers,
        "content-type": "application/json",
        "user-agent": "delayq-push/1",
        "idempotency-key": payload.idempotencyKey,
        "delayq-message-id": payload.messageId,
        "delayq-attempt": String(payload.attempt),
        "delayq-topic": payload.topic,
        "delayq-group": payload.group,
      };
      if (request.secrets.length > 0) headers[SIGNATURE_HEADER] = signatureHeader(request.secrets, request.nowMs, body);
      try {
        const response = await fetchImpl(target.url, { method: "POST", headers, body, redirect: "manual", signal });
        const text = await response.text().catch(() => "");
        if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
        return { ok: false, status: response.status, error: `HTTP ${response.status}${text ? `: ${text.slice(0, ERROR_BODY_CHARS)}` : ""}` };
      } catch (error) {
        if (signal.aborted) return { ok: false, error: `timed out after ${request.timeoutMs} ms` };
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        return { ok: false, error: cause?.code ?? cause?.message ?? String(error) };
      }
    },
  };
}
