import { ManualClock } from "../../core/clock.js";
import { MemoryStore } from "../../core/memory-store.js";
import { silentLogger } from "../../core/ports.js";
import { buildRuntime } from "../../lambda/composition.js";

export interface CallResult {
  status: number;
  json: any;
}

/** The whole app (JSON and RocketMQ doors) over the memory store and a manual clock, called without a socket. */
export function memoryApp(startMs: number, env: Record<string, string> = {}) {
  const clock = new ManualClock(startMs);
  const runtime = buildRuntime({ env, log: silentLogger, store: new MemoryStore(), clock });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<CallResult> => {
    const response = await runtime.app.fetch(
      new Request(`http://queue.test${path}`, {
        method,
        headers: { "content-type": "application/json", ...headers },
        ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
      }),
    );
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
  return { clock, runtime, call };
}
