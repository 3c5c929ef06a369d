import { freshTable } from "../support/dynamo.js";
import { queueContract } from "./queue-contract.js";

queueContract({ name: "DynamoDB Local", newStore: async () => (await freshTable()).store });
