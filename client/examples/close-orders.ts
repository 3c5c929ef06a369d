// Publishes "close order 42" due in 2 s and handles it when it arrives, acking it.
// Locally: `npm start`, then `npx tsx client/examples/close-orders.ts`.
// On AWS, only the endpoint changes (requests to an execute-api URL are signed with SigV4 and your usual
// AWS credentials): `DELAYQ_ENDPOINT=https://abc123.execute-api.eu-west-1.amazonaws.com npx tsx client/examples/close-orders.ts`
import { DelayqClient } from "../src/index.js";

const client = new DelayqClient(); // DELAYQ_ENDPOINT, else http://127.0.0.1:8080
const topic = process.argv[2] ?? "orders";

const { messageId, deliverAt } = await client.publish(topic, { body: "close order 42", delayMs: 2000, key: "order-42" });
console.log(`published ${messageId}, due at ${new Date(deliverAt).toISOString()}`);

const stop = new AbortController();
const summary = await client.work(
  topic,
  "billing",
  async (message) => {
    // Resolving acks the message; throwing would nack it (it comes back after the group's backoff).
    console.log(`received "${message.body}" ${Date.now() - message.deliverAt} ms after its deliver time`);
    if (message.messageId === messageId) stop.abort();
  },
  { concurrency: 4, waitSeconds: 20, signal: stop.signal },
);
console.log(`acked ${summary.acked}, nacked ${summary.nacked}`);
