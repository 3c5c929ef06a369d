import { DynamoManageStore } from "../../lambda/dynamo/manage-store.js";
import { freshTable } from "../support/dynamo.js";
import { manageContract } from "./manage-contract.js";

manageContract({
  name: "DynamoDB Local",
  bulk: true,
  newStores: async () => {
    const table = await freshTable();
    return { store: table.store, manage: new DynamoManageStore({ client: table.client, tableName: table.tableName, meter: table.meter }) };
  },
});
