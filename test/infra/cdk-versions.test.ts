import { execFile } from "node:child_process";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../infra/queue-function.js";
import { synthesize } from "./synth.js";

/**
 * aws-cdk-lib writes the cloud assembly and the pinned CLI (`npx cdk`) reads it; a CLI older than the
 * assembly's schema refuses it ("Maximum schema version supported is …"). Both are pinned, and this file
 * fails as soon as the library writes what the CLI cannot read.
 */

const run = promisify(execFile);
const readJson = (path: string) => JSON.parse(readFileSync(join(PROJECT_ROOT, path), "utf8"));
const pkg = readJson("package.json") as { devDependencies: Record<string, string> };
const lock = readJson("package-lock.json") as { packages: Record<string, { version?: string; devDependencies?: Record<string, string> }> };
const installed = (name: string): string => readJson(`node_modules/${name}/package.json`).version;

/** The pinned CLI, as `npx cdk` runs it, offline: no version check, no notices, no telemetry. */
function cdk(...args: string[]) {
  return run(process.execPath, [join(PROJECT_ROOT, "node_modules/aws-cdk/bin/cdk"), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: "1", CDK_DISABLE_CLI_TELEMETRY: "true" },
    timeout: 60_000,
  });
}

describe("aws-cdk-lib and the CDK CLI", () => {
  // Prepare: the app's assembly, written by the installed aws-cdk-lib (assets staged, not bundled).
  const synthesized = synthesize();
  synthesized.app.synth();
  const newer = `${synthesized.outdir}-newer`;
  afterAll(() => {
    synthesized.cleanup();
    rmSync(newer, { recursive: true, force: true });
  });

  it("pin aws-cdk-lib to one exact version, installed and locked at it", () => {
    const pinned = pkg.devDependencies["aws-cdk-lib"];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed("aws-cdk-lib")).toBe(pinned);
    expect(lock.packages[""]?.devDependencies?.["aws-cdk-lib"]).toBe(pinned);
    expect(lock.packages["node_modules/aws-cdk-lib"]?.version).toBe(pinned);
  });

  it("pin the CLI to patch releases of one version (never a range a fresh install could move to another major)", () => {
    const pinned = pkg.devDependencies["aws-cdk"] ?? "";
    expect(pinned).toMatch(/^~?\d+\.\d+\.\d+$/);
    const [major, minor] = pinned.replace(/^~/, "").split(".");
    expect(installed("aws-cdk").startsWith(`${major}.${minor}.`)).toBe(true);
    expect(lock.packages["node_modules/aws-cdk"]?.version).toBe(installed("aws-cdk"));
  });

  it("the pinned CLI reads the assembly the pinned aws-cdk-lib writes", async () => {
    // Act
    const { stdout } = await cdk("ls", "--app", synthesized.outdir);
    // Assess
    expect(stdout.trim().split("\n")).toEqual(["DelayQueue"]);
  });

  it("and refuses one of a newer schema, which is what this test guards against", async () => {
    // Prepare: the same assembly, claiming the next schema major.
    cpSync(synthesized.outdir, newer, { recursive: true });
    const manifestPath = join(newer, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { version: string };
    const major = Number(manifest.version.split(".")[0]);
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, version: `${major + 1}.0.0` }));
    // Act
    const refused = await cdk("ls", "--app", newer).then(
      () => undefined,
      (error: { stderr?: string; code?: number }) => error,
    );
    // Assess
    expect(refused?.code).not.toBe(0);
    expect(refused?.stderr).toContain(`Maximum schema version supported is ${major}.x.x`);
  });
});
