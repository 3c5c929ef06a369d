import { dynamoTarget } from "../support/dynamo.js";
import { queueContract } from "./queue-contract.js";

queueContract(dynamoTarget("DynamoDB Local", { bulk: true }));
