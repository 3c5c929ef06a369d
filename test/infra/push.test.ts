import { afterAll, describe, expect, it } from "vitest";
import { synthesize } from "./synth.js";

type Json = Record<string, any>;

const TARGETS = {
  functionArns: ["arn:aws:lambda:eu-west-1:123456789012:function:on-due"],
  queueArns: ["arn:aws:sqs:eu-west-1:123456789012:due-jobs.fifo", "arn:aws:sqs:eu-west-1:123456789012:due-mail"],
  eventBusArns: ["arn:aws:events:eu-west-1:123456789012:event-bus/orders"],
};

describe("the push dispatcher with pushTargets", () => {
  const { template, stack, cleanup } = synthesize({ queue: { pushTargets: TARGETS, pushShards: 4 } });
  afterAll(cleanup);
  const queue = stack.queue;
  const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
  const roleId = logicalId(queue.functions.dispatcher.role as never);

  /** Every statement of the dispatcher's role, inline and attached. */
  const statements = (): Json[] =>
    Object.values(template.toJSON().Resources as Record<string, Json>)
      .filter((r) => r.Type === "AWS::IAM::Policy" && JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[]);

  it("may invoke, send to and put events on exactly the listed targets", () => {
    const byAction = (action: string) => statements().filter((s) => [s.Action].flat().includes(action));
    expect(byAction("lambda:InvokeFunction").map((s) => s.Resource)).toEqual(
      expect.arrayContaining([[TARGETS.functionArns[0], `${TARGETS.functionArns[0]}:*`]]),
    );
    // The only other invoke is its successor's, by tag.
    expect(byAction("lambda:InvokeFunction").filter((s) => !s.Condition)).toEqual([
      { Action: "lambda:InvokeFunction", Effect: "Allow", Resource: [TARGETS.functionArns[0], `${TARGETS.functionArns[0]}:*`] },
    ]);
    expect(byAction("sqs:SendMessage").filter((s) => [s.Action].flat().length === 1)).toEqual([
      { Action: "sqs:SendMessage", Effect: "Allow", Resource: TARGETS.queueArns },
    ]);
    expect(byAction("events:PutEvents")).toEqual([{ Action: "events:PutEvents", Effect: "Allow", Resource: TARGETS.eventBusArns[0] }]);
  });

  it("no other role may reach a push target", () => {
    const others = Object.values(template.toJSON().Resources as Record<string, Json>).filter(
      (r) => r.Type === "AWS::IAM::Policy" && !JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`),
    );
    const text = JSON.stringify(others);
    for (const a of [...TARGETS.functionArns, ...TARGETS.queueArns, ...TARGETS.eventBusArns]) expect(text).not.toContain(a);
    expect(text).not.toContain("events:PutEvents");
  });

  it("every function gets the push shards and the aws target policy", () => {
    for (const fn of Object.values(template.findResources("AWS::Lambda::Function"))) {
      expect(fn.Properties.Environment.Variables).toMatchObject({ PUSH_SHARDS: "4", PUSH_TARGET_POLICY: "aws" });
    }
  });

  it("the dispatcher carries the tag its successor is invoked by", () => {
    const fn = template.toJSON().Resources[logicalId(queue.functions.dispatcher.function)] as Json;
    expect(fn.Properties.Tags).toEqual(expect.arrayContaining([{ Key: "delayq:role", Value: "push-dispatcher" }]));
    const tagged = Object.values(template.findResources("AWS::Lambda::Function")).filter((f) =>
      JSON.stringify(f.Properties.Tags ?? []).includes("push-dispatcher"),
    );
    expect(tagged).toHaveLength(1);
  });
});
