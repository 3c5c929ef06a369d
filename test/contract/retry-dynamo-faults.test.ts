import { dynamoTarget } from "../support/dynamo.js";
import { retryContract } from "./retry-contract.js";

/** DynamoDB Local made unkind (throttling, lost write responses, a lagging index), as in dynamo-faults.test.ts. */
retryContract(dynamoTarget("DynamoDB Local with injected faults", { faults: { seed: 101, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3 } }));
