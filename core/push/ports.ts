import type { PushPayload } from "./payload.js";
import type { PushTarget, PushType } from "./target.js";

/** One push, ready to send: the payload, its exact JSON body, and the secrets to sign an HTTP push with. */
export interface PushRequest {
  target: PushTarget;
  payload: PushPayload;
  /** The exact bytes sent (and signed) as the HTTP body, the Lambda payload, the SQS body, the EventBridge detail. */
  body: string;
  /** HTTP targets: every secret in force (the current one first). */
  secrets: readonly string[];
  timeoutMs: number;
  nowMs: number;
}

/** Success acks the delivery; anything else is a failed attempt (the group's backoff, then its dead letters). */
export type PushResult = { ok: true; status?: number } | { ok: false; error: string; status?: number };

/** Delivers pushes of one target type. Never throws: a failure is a result. Aborted when `signal` fires (the timeout). */
export interface PushTransport {
  send(request: PushRequest, signal: AbortSignal): Promise<PushResult>;
}

export type PushTransports = Partial<Record<PushType, PushTransport>>;

/** Starts a dispatcher for a push shard somewhere (an asynchronous Lambda invoke; in-process locally). Never waits for it to finish. */
export interface DispatcherStarter {
  start(shard: number): Promise<void>;
}
