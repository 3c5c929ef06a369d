import { dynamoTarget } from "../support/dynamo.js";
import { pushContract } from "./push-contract.js";

pushContract(dynamoTarget("DynamoDB Local"));
