/**
 * Traces and metric dimensions carry no customer data (reliability property 11) because the service writes
 * none of its own: its functions are traced by Lambda's active tracing alone (function, request id, timings)
 * and its only metrics are those AWS publishes per function, queue and API. This test keeps it so: code
 * that starts annotating traces or publishing metrics fails here, and must then show the canary test
 * (test/e2e/privacy.e2e.test.ts) covering what it sends.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** What writing a trace annotation, a trace segment or a custom metric takes, in any of the usual ways. */
const TELEMETRY = [
  /@aws-lambda-powertools\/(tracer|metrics)/,
  /aws-xray-sdk/,
  /@aws-sdk\/client-(cloudwatch|xray)\b/,
  /@opentelemetry\//,
  /\b(putAnnotation|putMetadata|addAnnotation|addMetadata|addDimensions?|putMetric)\s*\(/,
  /PutMetricData|PutTraceSegments/,
  // CloudWatch embedded metric format: a log line with an "_aws" member becomes a metric.
  /["']_aws["']|\b_aws\s*:/,
];

describe("service code", () => {
  it("writes no trace annotations, trace segments or custom metrics", () => {
    const files = ["shared", "functions"].flatMap((dir) => sources(join(root, dir)));
    expect(files.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const pattern of TELEMETRY) {
        if (pattern.test(text)) found.push(`${relative(root, file)}: ${pattern}`);
      }
    }
    expect(found).toEqual([]);
  });

  it("depends on no tracing or metrics library", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    const names = Object.keys(pkg.dependencies ?? {});
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => TELEMETRY.some((p) => p.test(`"${n}"`)))).toEqual([]);
  });
});
