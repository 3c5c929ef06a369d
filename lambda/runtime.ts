import { jsonLogger } from "../core/log.js";
import { type Runtime, buildRuntime } from "./composition.js";

let runtime: Promise<Runtime> | undefined;

/** Built once per Lambda container, on first use, from the function's environment. */
export function getRuntime(): Promise<Runtime> {
  runtime ??= Promise.resolve().then(() =>
    buildRuntime({ env: process.env, log: jsonLogger({ fn: process.env.AWS_LAMBDA_FUNCTION_NAME }) }),
  );
  return runtime;
}

export const getApp = async () => (await getRuntime()).app;
