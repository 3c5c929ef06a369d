import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { App, type IPolicyValidationPlugin, Validations } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { DelayQueueProps } from "../../infra/delay-queue.js";
import { DelayQueueStack } from "../../infra/delay-queue-stack.js";
import { PROJECT_ROOT } from "../../infra/queue-function.js";

export interface SynthOptions {
  /** Props of the queue; the app's defaults when absent. */
  queue?: DelayQueueProps;
  /** Run esbuild for every function (slow-ish); off, the assets are staged unbundled. */
  bundle?: boolean;
  /** Policy-validation plugins (cdk-nag packs) run during synthesis. */
  plugins?: IPolicyValidationPlugin[];
}

export interface Synthesized {
  app: App;
  stack: DelayQueueStack;
  template: Template;
  /** The cloud assembly directory; inside the repository so bundles resolve its node_modules. */
  outdir: string;
  cleanup(): void;
}

/** The context `cdk synth` uses (cdk.json), so the tested template is the deployed one. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** Synthesizes the app's stack once; call from module scope or beforeAll. */
export function synthesize(options: SynthOptions = {}): Synthesized {
  const parent = join(PROJECT_ROOT, "cdk.out", "test");
  mkdirSync(parent, { recursive: true });
  const outdir = mkdtempSync(join(parent, "infra-"));
  const app = new App({
    outdir,
    context: {
      ...cdkJsonContext(),
      ...(options.bundle ? {} : { "aws:cdk:bundling-stacks": [] }),
    },
  });
  const stack = new DelayQueueStack(app, "DelayQueue", options.queue ? { queue: options.queue } : {});
  if (options.plugins) Validations.of(app).addPlugins(...options.plugins);
  const template = Template.fromStack(stack);
  return {
    app,
    stack,
    template,
    outdir,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}
