import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { type DynamoLocal, startDynamoLocal } from "../../local/dynamo-local.js";

declare module "vitest" {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}

let dynamo: DynamoLocal | undefined;

/** One DynamoDB Local for the whole run (in memory, free port); every test file makes its own tables. */
export async function setup(project: TestProject): Promise<void> {
  dynamo = await startDynamoLocal();
  project.provide("dynamoEndpoint", dynamo.endpoint);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
}
