import { dynamoTarget } from "../support/dynamo.js";
import { queueContract } from "./queue-contract.js";

/**
 * DynamoDB Local made unkind: throttling, lost write responses (the SDK re-sends applied writes) and a
 * lagging index. The cases of volume (the bulk cases, the burst at one instant: thousands of writes
 * through one client) run with rarer write faults: at 20 % failed attempts the SDK's retry quota (500 tokens, 5 per retry, 1 back per success)
 * runs dry after a few thousand requests and every later failure surfaces at once — correct, but it
 * turns a minute's case into a quarter of an hour. The index lags as often as in the other cases. Index
 * answers are cut after 37 entries (1,000 in the bulk cases), as the service cuts a page at 1 MB before
 * its limit.
 */
queueContract(
  dynamoTarget("DynamoDB Local with injected faults", {
    bulk: true,
    faults: { seed: 1, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3, pageCut: 37 },
    bulkFaults: { seed: 1, throttle: 0.01, lostResponse: 0.02, staleIndex: 0.3, pageCut: 1000 },
  }),
);
