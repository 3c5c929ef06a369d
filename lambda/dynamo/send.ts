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

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "";
}

/**
 * Sends one command, meters it under `operation`, and turns exhausted throttling into
 * StoreUnavailableError. A failed conditional write is counted as a request; DynamoDB reports no
 * capacity for it. The client's `send` is overloaded per command class; callers read known fields.
 */
export async function sendMetered(client: DynamoDBClient, meter: CapacityMeter | undefined, operation: string, command: any): Promise<any> {
  try {
    const out: any = await client.send(command);
    meter?.record(operation, out.ConsumedCapacity, capacityKind(command));
    return out;
  } catch (error) {
    meter?.record(`${operation}:failed`, undefined, capacityKind(command));
    if (THROTTLING.has(errorName(error))) {
      throw new StoreUnavailableError(`DynamoDB is throttling or unavailable (${errorName(error)} on ${operation}); retry shortly`);
    }
    throw error;
  }
}
