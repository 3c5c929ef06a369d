import { dynamoTarget } from "../support/dynamo.js";
import { retryContract } from "./retry-contract.js";

retryContract(dynamoTarget("DynamoDB Local"));
