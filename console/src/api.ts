import type * as Api from "../../client/src/schema.js";

export type { Api };

/** An answer of the API that is not a success: its stable code, message and status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const KEY_STORAGE = "delayq.apiKey";

/** The local server's API key (LOCAL_API_KEY), kept for this browser tab only. */
export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY_STORAGE),
  set: (key: string) => (key ? sessionStorage.setItem(KEY_STORAGE, key) : sessionStorage.removeItem(KEY_STORAGE)),
};

const seg = encodeURIComponent;

type Query = Record<string, string | number | undefined>;

/**
 * Calls the JSON API on the page's own origin — `npm start` itself, or `delayq console`, which signs the
 * calls for a deployed stack. Nothing but the public API (and, locally, /metrics) is used.
 */
async function call<T>(method: string, path: string, options: { query?: Query; body?: unknown; accept?: string } = {}): Promise<T> {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
  const headers: Record<string, string> = { accept: options.accept ?? "application/json" };
  const key = apiKey.get();
  if (key) headers["x-api-key"] = key;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(url, { method, headers, ...(options.body !== undefined && { body: JSON.stringify(options.body) }) });
  } catch {
    throw new ApiError(0, "NetworkError", "the server did not answer");
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string }; message?: string } | undefined) ?? {};
    throw new ApiError(response.status, error.error?.code ?? `HTTP ${response.status}`, error.error?.message ?? error.message ?? (text.slice(0, 200) || response.statusText));
  }
  return json as T;
}

export const api = {
  health: () => call<Api.Health>("GET", "/healthz"),
  topics: (cursor?: string) => call<Api.TopicList>("GET", "/v1/topics", { query: { limit: 1000, cursor } }),
  topic: (t: string) => call<Api.TopicSettings>("GET", `/v1/topics/${seg(t)}`),
  stats: (t: string) => call<Api.TopicStats>("GET", `/v1/topics/${seg(t)}/stats`),
  groups: (t: string) => call<Api.GroupList>("GET", `/v1/topics/${seg(t)}/groups`, { query: { limit: 1000 } }),
  publish: (t: string, body: Api.PublishRequest) => call<Api.PublishResponse>("POST", `/v1/topics/${seg(t)}/messages`, { body }),
  scheduled: (t: string, query: { from?: number; to?: number; limit?: number; cursor?: string; tag?: string }) =>
    call<Api.MessageList>("GET", `/v1/topics/${seg(t)}/messages`, { query: { state: "scheduled", ...query } }),
  message: (t: string, id: string) => call<Api.MessageState>("GET", `/v1/topics/${seg(t)}/messages/${seg(id)}`),
  cancel: (t: string, id: string) => call<Api.CancelResponse>("DELETE", `/v1/topics/${seg(t)}/messages/${seg(id)}`),
  reschedule: (t: string, id: string, body: Api.RescheduleRequest) => call<Api.RescheduleResponse>("PATCH", `/v1/topics/${seg(t)}/messages/${seg(id)}`, { body }),
  deadLetters: (t: string, g: string, cursor?: string) =>
    call<Api.DeadLetterList>("GET", `/v1/topics/${seg(t)}/groups/${seg(g)}/dead-letters`, { query: { limit: 100, cursor } }),
  redrive: (t: string, g: string, body: Api.RedriveRequest) => call<Api.RedriveResponse>("POST", `/v1/topics/${seg(t)}/groups/${seg(g)}/dead-letters/redrive`, { body }),
  schedules: () => call<Api.ScheduleList>("GET", "/v1/schedules"),
  createSchedule: (body: Api.ScheduleInput) => call<Api.Schedule>("POST", "/v1/schedules", { body }),
  deleteSchedule: (name: string) => call<Api.DeleteScheduleResponse>("DELETE", `/v1/schedules/${seg(name)}`),
  /** The local runtime's counters (prom-client's JSON form of GET /metrics); absent on a deployed stack. */
  metrics: () => call<{ metrics: PromMetric[] }>("GET", "/metrics", { accept: "application/json" }),
};

/** One metric of prom-client's `getMetricsAsJSON()`. */
export interface PromMetric {
  name: string;
  type: string;
  help: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/** The sum of a counter's values whose labels match `labels` (all of them when none are given). */
export function counterSum(metrics: readonly PromMetric[], name: string, labels: Record<string, string> = {}, metricName?: string): number {
  const metric = metrics.find((m) => m.name === name);
  if (!metric) return 0;
  return metric.values
    .filter((v) => (metricName === undefined || v.metricName === metricName) && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
