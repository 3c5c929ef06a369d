import { readFileSync } from "node:fs";
import ms from "ms";

/** A usage mistake: exit code 2 with the message. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** "30s", "1.5h", "2 days", or a number of milliseconds ("5000"), as integer ms. */
export function duration(text: string, what: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : ms(text as ms.StringValue);
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`${what} must be a duration such as 500ms, 30s, 5m, 2h, 1d or a number of milliseconds; got "${text}"`);
  }
  return Math.round(value);
}

export function integer(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${what} must be an integer from ${min} to ${max}; got "${text}"`);
  return Number(text);
}

/** The whole of standard input, as UTF-8. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The body of a publish: the argument, `-` or nothing with piped input for standard input, or --body-file. */
export async function messageBody(arg: string | undefined, bodyFile: string | undefined): Promise<string> {
  if (arg !== undefined && bodyFile !== undefined) throw new UsageError("give the body once: as an argument, or with --body-file");
  if (bodyFile !== undefined) return bodyFile === "-" ? readStdin() : readFileSync(bodyFile, "utf8");
  if (arg === "-" || (arg === undefined && !process.stdin.isTTY)) return readStdin();
  if (arg === undefined) throw new UsageError("give the message body: an argument, - (standard input), --body-file <path>, or --file <messages.ndjson>");
  return arg;
}

/** `k=v` pairs into an object. */
export function properties(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--prop takes name=value; got "${pair}"`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

/** The deliver time of --delay / --at [--tz] / --now, as API fields. */
export function timing(options: { delay?: string; at?: string; tz?: string; now?: boolean }): { delayMs?: number; deliverAt?: string | number; timeZone?: string } {
  const given = [options.delay !== undefined, options.at !== undefined, options.now === true].filter(Boolean).length;
  if (given > 1) throw new UsageError("give the deliver time one way only: --delay, --at or --now");
  if (options.tz !== undefined && options.at === undefined) throw new UsageError("--tz goes with --at, a local time such as 2026-12-24T09:00");
  if (options.delay !== undefined) return { delayMs: duration(options.delay, "--delay") };
  if (options.now) return { deliverAt: "now" };
  if (options.at !== undefined) {
    const at = /^\d+$/.test(options.at) ? Number(options.at) : options.at;
    return { deliverAt: at, ...(options.tz !== undefined && { timeZone: options.tz }) };
  }
  return {};
}
