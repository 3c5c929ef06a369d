import { dynamoTarget } from "../support/dynamo.js";
import { queueContract } from "./queue-contract.js";

/** DynamoDB Local made unkind: throttling, lost write responses (the SDK re-sends applied writes) and a lagging index. */
queueContract(dynamoTarget("DynamoDB Local with injected faults", { bulk: true, faults: { seed: 1, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3 } }));
