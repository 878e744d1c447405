/**
 * Traces and metric dimensions carry no customer data (reliability property 11). Functions are traced by
 * Lambda's active tracing alone (function, request id, timings): no code annotates traces or writes trace
 * segments. The service's own metrics are written by one module, shared/metrics.ts, through Powertools'
 * Metrics in the embedded metric format, with dimensions from a closed set of the service's own words
 * (test/unit/metrics.test.ts scans the lines a run writes for a canary customer id and attribute value).
 * This test keeps it so: code elsewhere that starts writing metrics, and any code that annotates traces or
 * calls CloudWatch or X-Ray directly, fails here.
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

/** The one module allowed to write metrics. */
const METRICS_MODULE = "shared/metrics.ts";

/** What writing a trace annotation or segment takes, or a metric by any other road than Powertools' Metrics. */
const FORBIDDEN = [
  /@aws-lambda-powertools\/tracer/,
  /aws-xray-sdk/,
  /@aws-sdk\/client-(cloudwatch|xray)\b/,
  /@opentelemetry\//,
  /\b(putAnnotation|putMetadata|addAnnotation|addMetadata|putMetric)\s*\(/,
  /PutMetricData|PutTraceSegments/,
  // CloudWatch embedded metric format written by hand: a log line with an "_aws" member becomes a metric.
  /["']_aws["']|\b_aws\s*:/,
];

/** Writing a metric with Powertools' Metrics: the metrics module's business only. */
const METRICS = [
  /@aws-lambda-powertools\/metrics/,
  /\b(addDimensions?|addMetric|singleMetric|publishStoredMetrics|captureColdStartMetric|logMetrics)\s*\(/,
];

const files = () => ["shared", "functions"].flatMap((dir) => sources(join(root, dir)));

describe("service code", () => {
  it("writes no trace annotations or trace segments, and no metric but through Powertools' Metrics", () => {
    const all = files();
    expect(all.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const file of all) {
      const text = readFileSync(file, "utf8");
      for (const pattern of FORBIDDEN) {
        if (pattern.test(text)) found.push(`${relative(root, file)}: ${pattern}`);
      }
    }
    expect(found).toEqual([]);
  });

  it("writes metrics from the metrics module only", () => {
    const found: string[] = [];
    for (const file of files()) {
      const text = readFileSync(file, "utf8");
      for (const pattern of METRICS) {
        if (pattern.test(text)) found.push(`${relative(root, file)}: ${pattern}`);
      }
    }
    // The module does write them (the allowance is not vacuous), and nothing else does.
    const inModule = found.filter((f) => f.startsWith(`${METRICS_MODULE}:`));
    expect(inModule.length).toBeGreaterThanOrEqual(2);
    expect(found.filter((f) => !f.startsWith(`${METRICS_MODULE}:`))).toEqual([]);
  });

  it("depends on no tracing library, and on Powertools' Metrics as its only metrics library", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    const names = Object.keys(pkg.dependencies ?? {});
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => FORBIDDEN.some((p) => p.test(`"${n}"`)))).toEqual([]);
    expect(names.filter((n) => METRICS.some((p) => p.test(`"${n}"`)))).toEqual([
      "@aws-lambda-powertools/metrics",
    ]);
  });
});
