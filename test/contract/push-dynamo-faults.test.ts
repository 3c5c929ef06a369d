import { dynamoTarget } from "../support/dynamo.js";
import { pushContract } from "./push-contract.js";

pushContract(dynamoTarget("DynamoDB Local with injected faults", { faults: { seed: 7, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3 } }));
