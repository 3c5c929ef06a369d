import type { ConsumedCapacity } from "@aws-sdk/client-dynamodb";

const READ_COMMANDS = /^(GetItem|BatchGetItem|Query|Scan|TransactGetItems)Command$/;

/** Whether a command consumes read or write units, by its class name. */
export function capacityKind(command: object): "read" | "write" {
  return READ_COMMANDS.test(command.constructor.name) ? "read" : "write";
}

export interface OperationCost {
  requests: number;
  readUnits: number;
  writeUnits: number;
}

/** Adds up DynamoDB requests and the capacity units they consumed (ReturnConsumedCapacity: TOTAL), per store operation. */
export class CapacityMeter {
  private readonly byOperation = new Map<string, OperationCost>();

  /** `kind` says which units a bare `CapacityUnits` figure is (DynamoDB reports only that for TOTAL). */
  record(operation: string, consumed: ConsumedCapacity[] | ConsumedCapacity | undefined, kind: "read" | "write"): void {
    const cost = this.byOperation.get(operation) ?? { requests: 0, readUnits: 0, writeUnits: 0 };
    cost.requests += 1;
    for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
      cost.readUnits += c.ReadCapacityUnits ?? 0;
      cost.writeUnits += c.WriteCapacityUnits ?? 0;
      // Some responses give only CapacityUnits; count them by the operation's kind.
      if (c.ReadCapacityUnits === undefined && c.WriteCapacityUnits === undefined && c.CapacityUnits !== undefined) {
        if (kind === "read") cost.readUnits += c.CapacityUnits;
        else cost.writeUnits += c.CapacityUnits;
      }
    }
    this.byOperation.set(operation, cost);
  }

  snapshot(): Record<string, OperationCost> {
    return Object.fromEntries([...this.byOperation].map(([k, v]) => [k, { ...v }]));
  }

  total(): OperationCost {
    const t = { requests: 0, readUnits: 0, writeUnits: 0 };
    for (const c of this.byOperation.values()) {
      t.requests += c.requests;
      t.readUnits += c.readUnits;
      t.writeUnits += c.writeUnits;
    }
    return t;
  }

  reset(): void {
    this.byOperation.clear();
  }
}
