import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith(".ts") ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/g), ...text.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)].map(
    (m) => m[1] as string,
  );
}

const FORBIDDEN: [RegExp, string][] = [
  [/^@aws-sdk\//, "no AWS SDK in core/: put adapters in lambda/"],
  [/^aws-lambda$|^aws-cdk-lib|^constructs$/, "no Lambda types or CDK in core/"],
  [/^@aws-lambda-powertools\/|^prom-client$/, "core/ reports through its QueueMetrics port: metrics back ends live in lambda/ and local/"],
  [/^(node:)?https?$/, "core/ speaks web-standard Request/Response, not node:http"],
  [/(^|\/)(lambda|local|infra)\//, "core/ must not depend on its doors"],
];

describe("architecture boundaries", () => {
  it("core/ imports no AWS, no node:http and none of its doors", () => {
    const violations: string[] = [];
    for (const file of sources(join(ROOT, "core"))) {
      for (const specifier of imports(file)) {
        for (const [pattern, why] of FORBIDDEN) {
          if (pattern.test(specifier)) violations.push(`${relative(ROOT, file)} imports ${specifier}: ${why}`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it("the check sees imports (it finds the ones lambda/ makes)", () => {
    const found = sources(join(ROOT, "lambda")).flatMap(imports);
    expect(found.some((s) => s.startsWith("@aws-sdk/"))).toBe(true);
  });
});
