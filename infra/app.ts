import { App } from "aws-cdk-lib";
import { CONTEXT_KEYS, propsFromContext } from "./context.js";
import { DelayQueueStack } from "./delay-queue-stack.js";

// Environment-agnostic: no account or region lookups, so `cdk synth` runs offline without credentials;
// `cdk deploy` takes both from the caller's AWS profile.
const app = new App();
new DelayQueueStack(app, app.node.tryGetContext(CONTEXT_KEYS.stackName) ?? "DelayQueue", {
  description: "delayq: serverless delayed and scheduled message queue",
  queue: propsFromContext(app.node),
});
app.synth();
