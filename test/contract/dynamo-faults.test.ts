import { dynamoTarget } from "../support/dynamo.js";
import { queueContract } from "./queue-contract.js";

/** DynamoDB Local made unkind: throttling, lost write responses (the SDK re-sends applied writes) and a lagging index. The bulk cases (1,000 groups, 10,000-entry heads, 10,000 idle topics) run on the memory store and on DynamoDB Local without faults. */
queueContract(dynamoTarget("DynamoDB Local with injected faults", { faults: { seed: 1, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3 } }));
