import type { ConsumedCapacity } from "@aws-sdk/client-dynamodb";

const READ_COMMANDS = /^(GetItem|BatchGetItem|Query|Scan|TransactGetItems)Command$/;

/** Whether a command consumes read or write units, by its class name. */
export function capacityKind(command: object): "read" | "write" {
  return READ_COMMANDS.test(command.constructor.name) ? "read" : "write";
}

export interface OperationCost {
  requests: number;
  /** As DynamoDB (Local) reported them (ReturnConsumedCapacity: TOTAL). */
  readUnits: number;
  writeUnits: number;
  /** As the service bills them, computed by the store from the items it wrote (see billing.ts). */
  billedWriteUnits: number;
  /** Conditional writes whose condition failed (billed like any write). */
  failedConditions: number;
}

/** Adds up DynamoDB requests and the capacity units they consumed (ReturnConsumedCapacity: TOTAL), per store operation. */
export class CapacityMeter {
  private readonly byOperation = new Map<string, OperationCost>();
  private readonly observers: ((operation: string, added: OperationCost) => void)[] = [];

  /** Calls `observer` with what each request or bill adds, unaffected by `reset` (a cumulative exporter's feed). */
  observe(observer: (operation: string, added: OperationCost) => void): void {
    this.observers.push(observer);
  }

  private tell(operation: string, before: OperationCost, after: OperationCost): void {
    if (this.observers.length === 0) return;
    const added: OperationCost = {
      requests: after.requests - before.requests,
      readUnits: after.readUnits - before.readUnits,
      writeUnits: after.writeUnits - before.writeUnits,
      billedWriteUnits: after.billedWriteUnits - before.billedWriteUnits,
      failedConditions: after.failedConditions - before.failedConditions,
    };
    for (const observer of this.observers) observer(operation, added);
  }

  /** `kind` says which units a bare `CapacityUnits` figure is (DynamoDB reports only that for TOTAL). */
  record(operation: string, consumed: ConsumedCapacity[] | ConsumedCapacity | undefined, kind: "read" | "write"): void {
    const cost = this.cost(operation);
    const before = { ...cost };
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
    this.tell(operation, before, cost);
  }

  /** Adds the write units the service bills for one request of `operation`. */
  bill(operation: string, writeUnits: number, failedCondition = false): void {
    const cost = this.cost(operation);
    const before = { ...cost };
    cost.billedWriteUnits += writeUnits;
    if (failedCondition) cost.failedConditions += 1;
    this.tell(operation, before, cost);
  }

  private cost(operation: string): OperationCost {
    let cost = this.byOperation.get(operation);
    if (!cost) {
      cost = { requests: 0, readUnits: 0, writeUnits: 0, billedWriteUnits: 0, failedConditions: 0 };
      this.byOperation.set(operation, cost);
    }
    return cost;
  }

  snapshot(): Record<string, OperationCost> {
    return Object.fromEntries([...this.byOperation].map(([k, v]) => [k, { ...v }]));
  }

  total(): OperationCost {
    const t: OperationCost = { requests: 0, readUnits: 0, writeUnits: 0, billedWriteUnits: 0, failedConditions: 0 };
    for (const c of this.byOperation.values()) {
      t.requests += c.requests;
      t.readUnits += c.readUnits;
      t.writeUnits += c.writeUnits;
      t.billedWriteUnits += c.billedWriteUnits;
      t.failedConditions += c.failedConditions;
    }
    return t;
  }

  reset(): void {
    this.byOperation.clear();
  }
}
