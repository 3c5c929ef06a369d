import { DynamoManageStore } from "../../lambda/dynamo/manage-store.js";
import { freshTable } from "../support/dynamo.js";
import { manageContract } from "./manage-contract.js";

let seed = 100;

manageContract({
  name: "DynamoDB Local with injected faults",
  lagging: true,
  newStores: async () => {
    const table = await freshTable({ seed: seed++, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3 });
    return { store: table.store, manage: new DynamoManageStore({ client: table.client, tableName: table.tableName }) };
  },
});
