import { dynamoTarget } from "../support/dynamo.js";
import { manageContract } from "./manage-contract.js";

manageContract(dynamoTarget("DynamoDB Local", { bulk: true }));
