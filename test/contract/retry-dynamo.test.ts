import { freshTable } from "../support/dynamo.js";
import { retryContract } from "./retry-contract.js";

retryContract({ name: "DynamoDB Local", newStore: async () => (await freshTable()).store });
