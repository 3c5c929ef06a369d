import { freshTable } from "../support/dynamo.js";
import { retryContract } from "./retry-contract.js";

let seed = 101;

/** DynamoDB Local made unkind (throttling, lost write responses, a lagging index), as in dynamo-faults.test.ts. */
retryContract({
  name: "DynamoDB Local with injected faults",
  lagging: true,
  newStore: async () => (await freshTable({ seed: seed++, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3 })).store,
});
