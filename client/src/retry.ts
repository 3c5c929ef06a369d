/** When to retry, and how long to wait: 429 and 503 only, full-jitter exponential backoff, Retry-After honoured. */

export interface RetryOptions {
  /** Retries after the first attempt (0: none). Default 3. */
  retries?: number;
  /** First backoff step, ms. Default 100. */
  baseDelayMs?: number;
  /** Largest backoff step, ms (Retry-After may ask for longer). Default 5000. */
  maxDelayMs?: number;
}

export const RETRY_DEFAULTS = { retries: 3, baseDelayMs: 100, maxDelayMs: 5000 } as const;

/** Statuses worth retrying: the service is throttling (429, API Gateway) or unavailable for a moment (503). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** Retry-After as ms: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Wait before retry number `attempt` (0 = the first retry): random in [0, min(max, base·2^attempt)], at least Retry-After. */
export function backoffMs(attempt: number, options: Required<RetryOptions>, retryAfter: number | undefined, random = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  const jittered = Math.round(random() * ceiling);
  return retryAfter === undefined ? jittered : Math.max(retryAfter, jittered);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
