import { dynamoTarget } from "../support/dynamo.js";
import { manageContract } from "./manage-contract.js";

manageContract(dynamoTarget("DynamoDB Local with injected faults", { faults: { seed: 100, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3, pageCut: 37 } }));
