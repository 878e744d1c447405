/**
 * The lookup function in the synthesized stack: it serves the customer lookup (and nothing else; the member
 * pages, read from S3, are readApi's), carries no AWS SDK (it reads through aws-lite), keeps its bundle within
 * a size budget, and is watched by the same alarms as every other function. Its IAM permissions are checked
 * in functions.test.ts.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceFunction } from "../../infra/constructs/service-function";
import { type CliSynth, cliSynth, functionAssetDir } from "./assembly";
import { functionProps, getAtt, ref, removeOutdirs, resourcesOfType, type Synthesized, synth } from "./synth";

let sx: Synthesized;
let bundled: CliSynth;
beforeAll(async () => {
  sx = synth();
  bundled = await cliSynth();
});
afterAll(removeOutdirs);

/** Route keys of the API whose integration invokes `fn`. */
function routesOf(fn: ServiceFunction): string[] {
  const integrations = resourcesOfType(sx.template, "AWS::ApiGatewayV2::Integration");
  const keys: string[] = [];
  for (const route of Object.values(resourcesOfType(sx.template, "AWS::ApiGatewayV2::Route"))) {
    const target = route.Properties?.Target as { "Fn::Join": [string, [string, { Ref: string }]] };
    const integration = integrations[target["Fn::Join"][1][1].Ref];
    if (JSON.stringify(integration?.Properties?.IntegrationUri) === JSON.stringify(getAtt(fn.logicalId)))
      keys.push(String(route.Properties?.RouteKey));
  }
  return keys.sort();
}

/** The bundled code of a function, as `cdk synth` staged it for upload. */
function bundledCode(fn: ServiceFunction): string {
  return readFileSync(join(functionAssetDir(bundled, fn.logicalId), "index.mjs"), "utf8");
}

/**
 * The lookup function's bundle (index.mjs as `cdk synth` staged it, so with the stack's own bundling options)
 * may not pass this many bytes: 169,000, within the 170,992 B it was before the served value model's
 * predictions were made at read (BENCHMARKS.md, "Lookup bundle within its figure"). The special functions
 * they need, @stdlib's gammaln, betaln, digamma and hyp2f1 with their own dependencies, are some 40 KB of it;
 * the checks of its inputs are written out (shared/api/lookup-checks.ts) rather than carrying zod's 28 KB, and
 * @stdlib's polyfills of built-ins are left out (BUILTIN_ALIASES).
 */
const LOOKUP_BUNDLE_BUDGET = 169_000;

/** Bare `@aws-sdk/...` specifiers the bundle still imports (left for the runtime to resolve). */
function sdkImports(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/(?:from|import)\s*\(?\s*["'](@aws-sdk\/[^"']+)["']/g))
    found.add(m[1] as string);
  return [...found].sort();
}

describe("lookupApi", () => {
  it("serves exactly the customer lookup; readApi, which has the bucket, serves the member pages", () => {
    expect(routesOf(sx.stack.api.functions.lookupApi)).toEqual([
      "GET /datasets/{datasetId}/customers/{customerId}",
    ]);
    // The customer lookup left readApi; the other reads, member pages included, stay with it.
    const read = routesOf(sx.stack.api.functions.readApi);
    expect(read).not.toContain("GET /datasets/{datasetId}/customers/{customerId}");
    expect(read).toContain("GET /datasets/{datasetId}/segments/{segmentId}/members");
    expect(read).toContain("GET /datasets/{datasetId}/segments");
  });

  it("carries no AWS SDK: its bundle neither imports nor contains a client", () => {
    const lookup = bundledCode(sx.stack.api.functions.lookupApi);
    expect(sdkImports(lookup)).toEqual([]);
    // The SDK's clients carry their package name for the user agent; aws-lite signs the calls instead.
    // (Booleans rather than toContain: a failure should not print a whole bundle.)
    expect(lookup.includes("client-dynamodb"), "the SDK's DynamoDB client is in the bundle").toBe(false);
    expect(lookup.includes("DynamoDB_20120810"), "DynamoDB's JSON protocol is not in the bundle").toBe(true);
    // The other functions bundle the SDK they were tested with.
    for (const fn of [sx.stack.api.functions.readApi, sx.stack.api.functions.writeApi])
      expect(bundledCode(fn).includes("client-dynamodb"), fn.node.path).toBe(true);
  });

  it("keeps its bundle within the budget: licence notices beside it, no XML parser, no zod, no polyfills, the prediction math in", () => {
    const dir = functionAssetDir(bundled, sx.stack.api.functions.lookupApi.logicalId);
    const bytes = statSync(join(dir, "index.mjs")).size;
    expect(bytes, `lookup bundle of ${bytes} bytes`).toBeLessThanOrEqual(LOOKUP_BUNDLE_BUDGET);
    const code = bundledCode(sx.stack.api.functions.lookupApi);
    // The licence headers of the bundled packages are kept, in the asset, beside the code.
    expect(code.includes("@license"), "licence headers inside the bundle").toBe(false);
    const notices = readFileSync(join(dir, "index.mjs.LEGAL.txt"), "utf8");
    expect(notices.includes("@stdlib/math-base-special-hyp2f1"), "hyp2f1's notice beside the bundle").toBe(
      true,
    );
    // aws-lite's XML parser (a message of its own) is left out: DynamoDB answers in JSON.
    expect(code.includes("External entites are not supported"), "the XML parser is in the bundle").toBe(
      false,
    );
    // No schema library: zod's classes name themselves ($ZodType, $ZodObject, ...) in any build of it.
    expect(code.includes("$ZodType"), "zod is in the bundle").toBe(false);
    expect(code.includes("Invalid discriminator value"), "zod's English messages are in the bundle").toBe(
      false,
    );
    // The served value model is evaluated here: the hypergeometric function's series is in the bundle.
    expect(code.includes("MAX_ITERATIONS"), "hyp2f1 is not in the bundle").toBe(true);
    // @stdlib's polyfill of Object.defineProperty (with the formatter it requires) is left out.
    expect(code.includes("Cannot specify one or more accessors"), "the defineProperty polyfill is in").toBe(
      false,
    );
  });

  it("loads without the parts left out: a fresh process imports the bundle and finds its handler", () => {
    const file = join(functionAssetDir(bundled, sx.stack.api.functions.lookupApi.logicalId), "index.mjs");
    const child = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        "const m = await import(process.argv[1]); process.stdout.write(typeof m.handler);",
        pathToFileURL(file).href,
      ],
      {
        env: {
          PATH: process.env.PATH,
          TABLE_NAME: "t",
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "x",
          AWS_SECRET_ACCESS_KEY: "x",
          LOG_LEVEL: "SILENT",
        },
        encoding: "utf8",
      },
    );
    expect([child.status, child.stdout], child.stderr).toEqual([0, "function"]);
  });

  it("knows its table and the tenant and scope rules of the other HTTP functions, and no bucket", () => {
    const env = functionProps(sx, sx.stack.api.functions.lookupApi).Environment.Variables;
    expect(env.TABLE_NAME).toEqual(
      ref(sx.stack.getLogicalId(sx.stack.storage.table.node.defaultChild as never)),
    );
    expect(env.BUCKET_NAME).toBeUndefined();
    const readEnv = functionProps(sx, sx.stack.api.functions.readApi).Environment.Variables;
    expect([env.DEFAULT_TENANT, env.SCOPE_PREFIX]).toEqual([readEnv.DEFAULT_TENANT, readEnv.SCOPE_PREFIX]);
  });

  it("has error and throttle alarms like every function", () => {
    const alarms = Object.values(resourcesOfType(sx.template, "AWS::CloudWatch::Alarm"));
    const fnRef = JSON.stringify(ref(sx.stack.api.functions.lookupApi.logicalId));
    const metrics = alarms
      .filter(
        (a) =>
          JSON.stringify(a.Properties?.Dimensions).includes(fnRef) &&
          a.Properties?.Namespace === "AWS/Lambda",
      )
      .map((a) => a.Properties?.MetricName)
      .sort();
    expect(metrics).toEqual(["Errors", "Throttles"]);
  });
});
