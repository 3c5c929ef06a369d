import { randomUUID } from "node:crypto";
import { type ConsumeOptions, ConsumedMessage, type WorkHandler, type WorkOptions, type WorkSummary, consumeLoop, workLoop } from "./consumer.js";
import { DelayqError } from "./errors.js";
import { RETRYABLE_STATUSES, RETRY_DEFAULTS, type RetryOptions, backoffMs, retryAfterMs, sleep } from "./retry.js";
import type * as Api from "./schema.js";
import { type SigV4Options, type Signer, regionOfEndpoint, sigv4Signer } from "./sigv4.js";

/** Where `npm start` listens by default. */
export const DEFAULT_ENDPOINT = "http://127.0.0.1:8080";

export interface ClientOptions {
  /** Base URL of the API: the stack's ApiUrl, or the local server. Default: DELAYQ_ENDPOINT, else http://127.0.0.1:8080. */
  endpoint?: string;
  /** The local server's LOCAL_API_KEY (sent as x-api-key). Default: DELAYQ_API_KEY. */
  apiKey?: string;
  /**
   * Sign requests with SigV4 for execute-api (a deployed stack's IAM authorization). Default: on for an
   * `*.execute-api.<region>.amazonaws.com` endpoint, off otherwise; `true` or options to sign for a custom domain.
   */
  aws?: boolean | SigV4Options;
  /** Retries of 429 and 503 answers (see README "Use it from code"); `false` for none. */
  retry?: RetryOptions | false;
  /**
   * With retries on, a publish without a dedupId gets a random one (a UUID) so a retry can never store it
   * twice. `false`: publishes without a dedupId are sent once, never retried.
   */
  autoDedupId?: boolean;
  /** Longest wait for one answer, ms, on top of a long poll's waitSeconds. Default 15 000. */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Environment read for the defaults (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Called as each attempt is sent, and with its answer's status (logging, metrics, the CLI's --verbose). */
  onRequest?: (event: { method: string; url: string; attempt: number; status?: number; ms?: number }) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
}

type Query = Record<string, string | number | undefined>;
interface RequestSpec extends CallOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** Whether a 429/503 may be retried (false for a publish without dedupId). */
  retry?: boolean;
  /** Extra time to allow for the answer (a long poll's wait). */
  extraTimeoutMs?: number;
}

export type PublishInput = Api.PublishRequest;
export type ConsumeInput = Api.ConsumeRequest;
export type Page<T> = T & { cursor?: string };

const seg = encodeURIComponent;

/**
 * A typed client of delayq's JSON API (client/openapi.json): every route, retries with jittered backoff on
 * 429/503 honouring Retry-After, SigV4 for a deployed stack, typed errors, and consumer loops.
 */
export class DelayqClient {
  readonly endpoint: URL;
  private readonly apiKey: string | undefined;
  private readonly signer: Signer | undefined;
  private readonly retry: Required<RetryOptions>;
  private readonly autoDedupId: boolean;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly onRequest: ClientOptions["onRequest"];

  constructor(options: ClientOptions = {}) {
    const env = options.env ?? (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
    const endpoint = options.endpoint ?? env.DELAYQ_ENDPOINT ?? DEFAULT_ENDPOINT;
    this.endpoint = new URL(endpoint.endsWith("/") ? endpoint : `${endpoint}/`);
    this.apiKey = options.apiKey ?? env.DELAYQ_API_KEY;
    const aws = options.aws ?? regionOfEndpoint(this.endpoint) !== undefined;
    this.signer = aws === false ? undefined : sigv4Signer(this.endpoint, aws === true ? {} : aws, env);
    this.retry = options.retry === false ? { ...RETRY_DEFAULTS, retries: 0 } : { ...RETRY_DEFAULTS, ...options.retry };
    this.autoDedupId = options.autoDedupId ?? true;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.fetchImpl = options.fetch ?? fetch;
    this.onRequest = options.onRequest;
  }

  /** Whether requests are signed with SigV4. */
  get signing(): boolean {
    return this.signer !== undefined;
  }

  // ---- operations -------------------------------------------------------------------------------

  /** `GET /healthz`: resolves once the store answers. */
  health(options: CallOptions = {}): Promise<Api.Health> {
    return this.request("GET", "healthz", options);
  }

  /** `GET /openapi.json`: the server's OpenAPI document. */
  openApi(options: CallOptions = {}): Promise<Record<string, unknown>> {
    return this.request("GET", "openapi.json", options);
  }

  // ---- messages ---------------------------------------------------------------------------------

  /** Publishes one message (`delayMs`, `deliverAt` or none for now). See `autoDedupId` for retries. */
  publish(topic: string, message: PublishInput, options: CallOptions = {}): Promise<Api.PublishResponse> {
    const body = this.withDedupId(message);
    return this.request("POST", `v1/topics/${seg(topic)}/messages`, { ...options, body, retry: this.retry.retries > 0 && body.dedupId !== undefined });
  }

  /** Publishes 1..16 messages in one call; one result per message, in order (a message's error does not fail the others). */
  publishBatch(topic: string, messages: readonly PublishInput[], options: CallOptions = {}): Promise<Api.PublishBatchResponse> {
    const body = messages.map((m) => this.withDedupId(m));
    return this.request("POST", `v1/topics/${seg(topic)}/messages/batch`, {
      ...options,
      body: { messages: body },
      retry: this.retry.retries > 0 && body.every((m) => m.dedupId !== undefined),
    });
  }

  /** Looks a message up, with each group's delivery. */
  getMessage(topic: string, messageId: string, options: CallOptions = {}): Promise<Api.MessageState> {
    return this.request("GET", `v1/topics/${seg(topic)}/messages/${seg(messageId)}`, options);
  }

  /** Cancels a message before its deliver time (outcome `cancelled` or `already-delivered`). */
  cancel(topic: string, messageId: string, options: CallOptions = {}): Promise<Api.CancelResponse> {
    return this.request("DELETE", `v1/topics/${seg(topic)}/messages/${seg(messageId)}`, options);
  }

  /** Cancels every message published with `key`. */
  cancelByKey(topic: string, key: string, options: CallOptions = {}): Promise<Api.CancelByKeyResponse> {
    return this.request("DELETE", `v1/topics/${seg(topic)}/messages`, { ...options, query: { key } });
  }

  /** Moves a message's deliver time: `{deliverAt}` (epoch ms, ISO-8601, a local time with timeZone, or "now") or `{delayMs}` from now. */
  reschedule(topic: string, messageId: string, when: Api.RescheduleRequest, options: CallOptions = {}): Promise<Api.RescheduleResponse> {
    return this.request("PATCH", `v1/topics/${seg(topic)}/messages/${seg(messageId)}`, { ...options, body: when });
  }

  /** One page of the messages waiting for their deliver time, oldest first. */
  listMessages(
    topic: string,
    query: { from?: string | number; to?: string | number; tag?: string; limit?: number; cursor?: string } = {},
    options: CallOptions = {},
  ): Promise<Api.MessageList> {
    return this.request("GET", `v1/topics/${seg(topic)}/messages`, { ...options, query: { state: "scheduled", ...query } });
  }

  /** Every message waiting in the window, page after page. */
  async *scheduledMessages(topic: string, query: { from?: string | number; to?: string | number; tag?: string; limit?: number } = {}, options: CallOptions = {}) {
    let cursor: string | undefined;
    do {
      const page = await this.listMessages(topic, { ...query, ...(cursor !== undefined && { cursor }) }, options);
      yield* page.messages;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /** Counts and the due forecast of a topic. */
  stats(topic: string, options: CallOptions = {}): Promise<Api.TopicStats> {
    return this.request("GET", `v1/topics/${seg(topic)}/stats`, options);
  }

  // ---- topics and groups ------------------------------------------------------------------------

  getTopic(topic: string, options: CallOptions = {}): Promise<Api.TopicSettings> {
    return this.request("GET", `v1/topics/${seg(topic)}`, options);
  }

  /** Replaces a topic's settings (a field left out goes back to its default). */
  putTopic(topic: string, settings: Api.TopicSettingsInput, options: CallOptions = {}): Promise<Api.TopicSettings> {
    return this.request("PUT", `v1/topics/${seg(topic)}`, { ...options, body: settings });
  }

  /** One page of the topics (published to or configured), by name. */
  listTopics(query: { limit?: number; cursor?: string } = {}, options: CallOptions = {}): Promise<Api.TopicList> {
    return this.request("GET", "v1/topics", { ...options, query });
  }

  /** Every topic, page after page. */
  async *topics(options: CallOptions = {}) {
    let cursor: string | undefined;
    do {
      const page = await this.listTopics(cursor === undefined ? {} : { cursor }, options);
      yield* page.topics;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  listGroups(topic: string, query: { limit?: number; cursor?: string } = {}, options: CallOptions = {}): Promise<Api.GroupList> {
    return this.request("GET", `v1/topics/${seg(topic)}/groups`, { ...options, query });
  }

  /** Every group of a topic, page after page. */
  async *groups(topic: string, options: CallOptions = {}) {
    let cursor: string | undefined;
    do {
      const page = await this.listGroups(topic, cursor === undefined ? {} : { cursor }, options);
      yield* page.groups;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  getGroup(topic: string, group: string, options: CallOptions = {}): Promise<Api.GroupSettings> {
    return this.request("GET", `v1/topics/${seg(topic)}/groups/${seg(group)}`, options);
  }

  /** Replaces a group's settings, registering the group. */
  putGroup(topic: string, group: string, settings: Api.GroupSettingsInput, options: CallOptions = {}): Promise<Api.GroupSettings> {
    return this.request("PUT", `v1/topics/${seg(topic)}/groups/${seg(group)}`, { ...options, body: settings });
  }

  /** Unregisters a group, with its pending deliveries and dead letters. */
  deleteGroup(topic: string, group: string, options: CallOptions = {}): Promise<Api.DeleteGroupResponse> {
    return this.request("DELETE", `v1/topics/${seg(topic)}/groups/${seg(group)}`, options);
  }

  // ---- consume ----------------------------------------------------------------------------------

  /** One consume call (long poll): the messages received, each with `ack()` and `nack()`. */
  async receive(topic: string, group: string, input: ConsumeInput = {}, options: CallOptions = {}): Promise<ConsumedMessage[]> {
    const answer = await this.request<Api.ConsumeResponse>("POST", `v1/topics/${seg(topic)}/groups/${seg(group)}/consume`, {
      ...options,
      body: input,
      extraTimeoutMs: (input.waitSeconds ?? 0) * 1000,
    });
    return answer.messages.map((m) => new ConsumedMessage(this, topic, group, m));
  }

  /** Acknowledges deliveries; a spent or foreign handle fails alone (see `failed`). */
  ack(topic: string, group: string, receiptHandles: readonly string[], options: CallOptions = {}): Promise<Api.AckResponse> {
    return this.request("POST", `v1/topics/${seg(topic)}/groups/${seg(group)}/ack`, { ...options, body: { receiptHandles } });
  }

  /** Gives a delivery back: visible again after `delayMs` (default: the group's retry backoff). */
  nack(topic: string, group: string, receiptHandle: string, nack: { delayMs?: number } = {}, options: CallOptions = {}): Promise<Api.NackResponse> {
    return this.request("POST", `v1/topics/${seg(topic)}/groups/${seg(group)}/nack`, { ...options, body: { receiptHandle, ...nack } });
  }

  /**
   * Messages as they arrive, for `for await (const message of client.consume(topic, group, {…}))`. Long
   * polls (default waitSeconds 20) until `signal` aborts. See ConsumeOptions for `autoAck` and stopping.
   */
  consume(topic: string, group: string, options: ConsumeOptions = {}): AsyncGenerator<ConsumedMessage, void, undefined> {
    return consumeLoop(this, topic, group, options);
  }

  /**
   * Runs `handler` on every message, up to `concurrency` at once: resolved → ack, thrown → nack. Resolves
   * with a summary once `signal` aborted and the handlers in flight finished.
   */
  work(topic: string, group: string, handler: WorkHandler, options: WorkOptions = {}): Promise<WorkSummary> {
    return workLoop(this, topic, group, handler, options);
  }

  // ---- dead letters -----------------------------------------------------------------------------

  listDeadLetters(topic: string, group: string, query: { limit?: number; cursor?: string } = {}, options: CallOptions = {}): Promise<Api.DeadLetterList> {
    return this.request("GET", `v1/topics/${seg(topic)}/groups/${seg(group)}/dead-letters`, { ...options, query });
  }

  /** Every dead letter of a group, page after page. */
  async *deadLetters(topic: string, group: string, options: CallOptions = {}) {
    let cursor: string | undefined;
    do {
      const page = await this.listDeadLetters(topic, group, { limit: 100, ...(cursor !== undefined && { cursor }) }, options);
      yield* page.deadLetters;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /** Dead letters back into the group: `{all: true}` (at most 1000 a call, `more` says if others remain) or `{messageIds}`. */
  redrive(topic: string, group: string, which: { all: true } | { messageIds: string[] }, options: CallOptions = {}): Promise<Api.RedriveResponse> {
    return this.request("POST", `v1/topics/${seg(topic)}/groups/${seg(group)}/dead-letters/redrive`, { ...options, body: which });
  }

  // ---- schedules --------------------------------------------------------------------------------

  createSchedule(schedule: Api.ScheduleInput, options: CallOptions = {}): Promise<Api.Schedule> {
    return this.request("POST", "v1/schedules", { ...options, body: schedule });
  }

  listSchedules(options: CallOptions = {}): Promise<Api.ScheduleList> {
    return this.request("GET", "v1/schedules", options);
  }

  getSchedule(name: string, options: CallOptions = {}): Promise<Api.Schedule> {
    return this.request("GET", `v1/schedules/${seg(name)}`, options);
  }

  deleteSchedule(name: string, options: CallOptions = {}): Promise<Api.DeleteScheduleResponse> {
    return this.request("DELETE", `v1/schedules/${seg(name)}`, options);
  }

  // ---- transport --------------------------------------------------------------------------------

  private withDedupId(message: PublishInput): PublishInput {
    if (message.dedupId !== undefined || !this.autoDedupId || this.retry.retries === 0) return message;
    return { ...message, dedupId: randomUUID() };
  }

  /** One call: sent, signed, retried on 429/503 (when allowed), answered as JSON or thrown as a DelayqError. */
  async request<T>(method: string, path: string, spec: RequestSpec = {}): Promise<T> {
    const url = new URL(path, this.endpoint);
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const retries = spec.retry === false ? 0 : this.retry.retries;
    for (let attempt = 0; ; attempt++) {
      this.onRequest?.({ method, url: url.href, attempt: attempt + 1 });
      const sentAt = Date.now();
      const response = await this.send(method, url, body, spec);
      this.onRequest?.({ method, url: url.href, attempt: attempt + 1, status: response.status, ms: Date.now() - sentAt });
      const text = await response.text().catch(() => "");
      if (response.ok) {
        try {
          return (text === "" ? undefined : JSON.parse(text)) as T;
        } catch {
          throw new DelayqError("InvalidResponse", `${method} ${url.pathname}: answer ${response.status} is not JSON`, response.status, response.headers.get("x-request-id") ?? undefined);
        }
      }
      const error = errorOf(method, url, response, text);
      if (attempt >= retries || !RETRYABLE_STATUSES.has(response.status)) throw error;
      await sleep(backoffMs(attempt, this.retry, retryAfterMs(response.headers.get("retry-after"), Date.now())), spec.signal);
    }
  }

  /**
   * One request as given (a path and query under the endpoint, a JSON body), with the API key and the
   * SigV4 signature added, answered as the server answered: no retry, no error conversion. What
   * `delayq console` forwards the browser's calls with.
   */
  forward(method: string, pathAndQuery: string, body: string | undefined, signal?: AbortSignal): Promise<Response> {
    const url = new URL(pathAndQuery.replace(/^\//, ""), this.endpoint);
    return this.send(method, url, body, { extraTimeoutMs: 30_000, ...(signal && { signal }) });
  }

  private async send(method: string, url: URL, body: string | undefined, spec: RequestSpec): Promise<Response> {
    let headers: Record<string, string> = { accept: "application/json", ...(body !== undefined && { "content-type": "application/json" }), ...spec.headers };
    if (this.apiKey !== undefined) headers["x-api-key"] = this.apiKey;
    if (this.signer) headers = await this.signer(method, url, headers, body);
    const timeout = AbortSignal.timeout(this.timeoutMs + (spec.extraTimeoutMs ?? 0));
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
    try {
      return await this.fetchImpl(url, { method, headers, ...(body !== undefined && { body }), signal });
    } catch (error) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      if (timeout.aborted) throw new DelayqError("Timeout", `${method} ${url.pathname}: no answer within ${this.timeoutMs + (spec.extraTimeoutMs ?? 0)} ms`, 0);
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new DelayqError("NetworkError", `${method} ${url.origin}${url.pathname}: ${cause?.code ?? cause?.message ?? String(error)}`, 0);
    }
  }
}

function errorOf(method: string, url: URL, response: Response, text: string): DelayqError {
  const requestId = response.headers.get("x-request-id") ?? response.headers.get("apigw-requestid") ?? undefined;
  const retryAfter = retryAfterMs(response.headers.get("retry-after"), Date.now());
  const seconds = retryAfter === undefined ? undefined : Math.ceil(retryAfter / 1000);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const ours = (parsed as Api.Error | undefined)?.error;
  if (ours && typeof ours.code === "string") return new DelayqError(ours.code, ours.message, response.status, requestId, seconds);
  const gateway = (parsed as Api.GatewayMessage | undefined)?.message;
  return new DelayqError(
    "GatewayError",
    `${method} ${url.pathname}: ${response.status} ${typeof gateway === "string" ? gateway : text.slice(0, 200) || response.statusText}`,
    response.status,
    requestId,
    seconds,
  );
}
