import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AMQP_DOOR_ACCESS, DYNAMO_ACCESS, type DynamoOperation, iamActions } from "../../infra/handlers.js";
import { PROJECT_ROOT } from "../../infra/queue-function.js";

describe("DYNAMO_ACCESS → IAM actions", () => {
  it("maps each operation to its action", () => {
    expect(iamActions(DYNAMO_ACCESS.sweeper)).toEqual({
      table: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
      dueIndex: ["dynamodb:Query"],
    });
  });

  it("authorizes TransactWriteItems through the actions of its items", () => {
    expect(iamActions({ table: ["TransactWriteItems", "GetItem"], dueIndex: [], transactWriteItems: ["Put", "Update"] })).toEqual({
      table: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
      dueIndex: [],
    });
  });

  it("maps ConditionCheck and Delete items to dynamodb:ConditionCheckItem and dynamodb:DeleteItem", () => {
    expect(
      iamActions({ table: ["TransactWriteItems"], dueIndex: [], transactWriteItems: ["ConditionCheck", "Delete"] }),
    ).toEqual({ table: ["dynamodb:ConditionCheckItem", "dynamodb:DeleteItem"], dueIndex: [] });
  });
});

describe("DYNAMO_ACCESS against the DynamoDB store", () => {
  // Prepare: the commands and transaction items the DynamoDB stores send (queue and management).
  const source = ["lambda/dynamo/store.ts"]
    .map((file) => readFileSync(join(PROJECT_ROOT, file), "utf8"))
    .join("\n");
  const sent = new Set([...source.matchAll(/new (\w+)Command\(/g)].map((match) => match[1]));
  const transactItems = new Set(
    [...source.matchAll(/\b(Put|Update|Delete|ConditionCheck): \{\s*TableName/g)].map((m) => m[1]),
  );
  const granted = [...Object.values(DYNAMO_ACCESS), AMQP_DOOR_ACCESS];

  it("grants every command the store sends to at least one handler", () => {
    const listed = new Set<string>(granted.flatMap((access) => [...access.table, ...access.dueIndex]));
    expect([...sent].filter((command) => !listed.has(command as string))).toEqual([]);
  });

  it("grants no command the store never sends", () => {
    const listed = new Set<DynamoOperation>(granted.flatMap((access) => [...access.table, ...access.dueIndex]));
    expect([...listed].filter((operation) => !sent.has(operation))).toEqual([]);
  });

  it("grants the AMQP door (publish, consume, ack, topology, queue deletion) every command the store sends, the due index's Query only", () => {
    expect([...AMQP_DOOR_ACCESS.table].sort()).toEqual([...sent].filter((c) => c !== undefined).sort());
    expect(iamActions(AMQP_DOOR_ACCESS).dueIndex).toEqual(["dynamodb:Query"]);
  });

  it("covers the kinds of item inside the store's transactions (it sends none)", () => {
    const transacting = granted.filter((access) => (access.table as readonly string[]).includes("TransactWriteItems"));
    expect(transacting).toEqual([]);
    expect(transactItems).toEqual(new Set());
  });
});
