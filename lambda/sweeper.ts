import type { SweepReport } from "../core/message.js";
import { getRuntime } from "./runtime.js";

/** Invoked every minute by EventBridge Scheduler: one bounded, idempotent sweep. */
export const handler = async (): Promise<SweepReport> => (await getRuntime()).queue.sweep();
