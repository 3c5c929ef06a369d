import { freshTable } from "../support/dynamo.js";
import { queueContract } from "./queue-contract.js";

let seed = 1;

/** DynamoDB Local made unkind: throttling, lost write responses (the SDK re-sends applied writes) and a lagging index. */
queueContract({
  name: "DynamoDB Local with injected faults",
  lagging: true,
  newStore: async () => (await freshTable({ seed: seed++, throttle: 0.05, lostResponse: 0.15, staleIndex: 0.3 })).store,
});
