import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { StoreUnavailableError } from "../../core/errors.js";
import { type CapacityMeter, capacityKind } from "./capacity.js";

/** Errors that mean "DynamoDB is busy or briefly unwell" once the SDK's own retries are spent: a 503 at the edge. */
export const THROTTLING = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "LimitExceededException",
]);

/** Network failures: DynamoDB (or DynamoDB Local) unreachable, restarting, or cut off mid-request. */
export const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
]);
/** Timeouts of the SDK's HTTP handler (connection or request). */
const TIMEOUTS = new Set(["TimeoutError", "RequestTimeout", "RequestTimeoutException", "AbortError"]);

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "";
}

/** Why a failed DynamoDB call is an outage (retry later), or undefined when it is not one. */
export function outageReason(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const name = error.name;
  const code = (error as { code?: unknown }).code;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (THROTTLING.has(name)) return `throttling or unavailable (${name})`;
  if (TIMEOUTS.has(name) || code === "ETIMEDOUT") return `not answering in time (${typeof code === "string" ? code : name})`;
  if (typeof code === "string" && UNREACHABLE.has(code)) return `unreachable (${code})`;
  if (status !== undefined && status >= 500) return `failing (HTTP ${status}, ${name})`;
  return undefined;
}

/**
 * Sends one command, meters it under `operation`, and turns an outage that outlasted the SDK's retries
 * (throttling, a timeout, DynamoDB unreachable) into StoreUnavailableError: 503 with Retry-After. A failed conditional write is counted as a request; DynamoDB reports no
 * capacity for it. The client's `send` is overloaded per command class; callers read known fields.
 */
export async function sendMetered(client: DynamoDBClient, meter: CapacityMeter | undefined, operation: string, command: any): Promise<any> {
  try {
    const out: any = await client.send(command);
    meter?.record(operation, out.ConsumedCapacity, capacityKind(command));
    return out;
  } catch (error) {
    meter?.record(`${operation}:failed`, undefined, capacityKind(command));
    const reason = outageReason(error);
    if (reason) {
      const retryAfter = THROTTLING.has(errorName(error)) ? 1 : 2;
      throw new StoreUnavailableError(`DynamoDB is ${reason} on ${operation}; retry in ${retryAfter} s`, retryAfter);
    }
    throw error;
  }
}
