/**
 * The stack bundles the @stdlib packages that pick a built-in or a polyfill at load as the module of the
 * built-in (infra/constructs/service-function.ts BUILTIN_ALIASES). That changes nothing only while each
 * package's entry picks that module on the runtime, so: each pair loads the same value here; the served value
 * model's predictions from a bundle built with the stack's options (the code the lookup function runs) equal
 * the source's, run on Node's own resolution of the packages, bit for bit, for every CDNOW customer and every
 * simulated customer under each repeat model; and the polyfills are in a bundle built without the aliases
 * but not in the stack's.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Metafile } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_ALIASES, BUNDLE_OPTIONS, PROJECT_ROOT } from "../../infra/constructs/service-function";
import { DEFAULT_SPEC, syntheticFile } from "../../scripts/bench/generate";
import type { CustomerValueInputs, ServedValueModel } from "../../shared/engine/clv/served";
import * as source from "../../shared/engine/clv/served";
import { type ComputedSegmentation, computeSegments } from "../../shared/engine/compute";
import { ingestTransactions } from "../../shared/engine/ingest";
import { AggregateState } from "../../shared/engine/state";
import { sharedData } from "../support/shared-data";
import { chunked, everyN } from "./engine/byte-source";

type Served = typeof source;

const ENTRY = 'export { predictCustomer, servedValueModelOf } from "./shared/engine/clv/served";';

/** Modules of the polyfills that the aliases leave out, as esbuild's metafile names them. */
const POLYFILLS = [
  "node_modules/@stdlib/utils-define-property/lib/polyfill.js",
  "node_modules/@stdlib/string-format/lib/main.js",
  "node_modules/@stdlib/array-float64/lib/polyfill.js",
  "node_modules/@stdlib/assert-has-float64array-support/lib/main.js",
];

/** The served module bundled as the stack bundles a function, with or without the aliases. */
async function bundleServed(outfile: string, aliases: boolean): Promise<Metafile> {
  const { alias, external, legalComments, banner, mainFields, ...rest } = BUNDLE_OPTIONS;
  const result = await build({
    stdin: { contents: ENTRY, resolveDir: PROJECT_ROOT, loader: "ts" },
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    platform: "node",
    ...rest,
    mainFields: [...mainFields],
    banner: { js: banner },
    legalComments,
    external: [...external],
    ...(aliases ? { alias: { ...alias } } : {}),
    metafile: true,
    outfile,
    logLevel: "error",
  });
  return result.metafile;
}

const through = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

async function stateOf(bytes: Buffer): Promise<AggregateState> {
  const state = new AggregateState();
  await ingestTransactions(chunked(bytes, everyN(bytes.length, 65_536)), { format: "csv" }, state);
  return state;
}

/** Every customer predicted by both modules; the fields that differ in any bit, at most five. */
function compare(
  bundled: Served,
  result: ComputedSegmentation,
): { customers: number; differences: string[] } {
  const stored = through(result.servedValue);
  const model = source.servedValueModelOf(stored) as ServedValueModel;
  expect(model).not.toBeNull();
  expect(bundled.servedValueModelOf(stored)).toEqual(model);
  const differences: string[] = [];
  for (let i = 0; i < result.customerCount; i++) {
    const inputs = through(result.valueInputsOf(i) as CustomerValueInputs);
    const a = source.predictCustomer(model, inputs, result.asOfDay);
    const b = bundled.predictCustomer(model, inputs, result.asOfDay);
    const fields = [
      ["probabilityAlive", a.probabilityAlive, b.probabilityAlive],
      ["expectedPurchases", a.expectedPurchases, b.expectedPurchases],
      ["expectedValue", a.expectedValue, b.expectedValue],
      ["clv", a.clv, b.clv],
      ["expectedPurchasesLow", a.intervals?.expectedPurchasesLow, b.intervals?.expectedPurchasesLow],
      ["expectedPurchasesHigh", a.intervals?.expectedPurchasesHigh, b.intervals?.expectedPurchasesHigh],
      ["clvLow", a.intervals?.clvLow, b.intervals?.clvLow],
      ["clvHigh", a.intervals?.clvHigh, b.intervals?.clvHigh],
    ] as const;
    for (const [field, x, y] of fields)
      if (!Object.is(x, y) && differences.length < 5)
        differences.push(`customer ${i} ${field}: ${x} vs ${y}`);
    if (a.valueFromModel !== b.valueFromModel && differences.length < 5)
      differences.push(`customer ${i} valueFromModel`);
  }
  return { customers: result.customerCount, differences };
}

describe("bundle aliases of built-ins", () => {
  let dir: string;
  let bundled: Served;
  let withAliases: Metafile;
  let withoutAliases: Metafile;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bundle-aliases-"));
    const file = join(dir, "aliased", "index.mjs");
    withAliases = await bundleServed(file, true);
    withoutAliases = await bundleServed(join(dir, "plain", "index.mjs"), false);
    bundled = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Served;
    // The bundle's own copy of the code, not the source module again.
    expect(bundled.predictCustomer).not.toBe(source.predictCustomer);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("maps each package to the module its entry loads on this runtime", () => {
    const require = createRequire(join(PROJECT_ROOT, "package.json"));
    const pairs = Object.entries(BUILTIN_ALIASES);
    expect(pairs.length).toBeGreaterThan(0);
    for (const [name, to] of pairs) {
      const loaded: unknown = require(name);
      expect(Object.is(loaded, require(to)), `${name} and ${to}`).toBe(true);
      // The value is the runtime's own built-in, never a polyfill.
      expect(Object.is(loaded, Object.defineProperty) || String(loaded).includes("[native code]"), name).toBe(
        true,
      );
    }
  });

  it("leaves the polyfills out of the stack's bundle, which carries them without the aliases", () => {
    const inputs = (meta: Metafile) => Object.keys(meta.inputs);
    for (const polyfill of POLYFILLS) {
      expect(inputs(withoutAliases), polyfill).toContain(polyfill);
      expect(inputs(withAliases), polyfill).not.toContain(polyfill);
    }
  });

  it("predicts every CDNOW customer to the same bits as the source", async () => {
    const cdnow = computeSegments(
      await stateOf(readFileSync(sharedData("cdnow/cdnow-master-transactions.csv"))),
      { asOf: "1998-07-01" },
    );
    expect(cdnow.servedValue?.covariances).not.toBeNull();
    expect(compare(bundled, cdnow)).toEqual({ customers: 23_570, differences: [] });
  });

  it("predicts every simulated customer to the same bits under each repeat model", async () => {
    const sim = syntheticFile(dir, { ...DEFAULT_SPEC, customers: 2_000 });
    const state = await stateOf(readFileSync(sim.path));
    for (const model of ["bgNbd", "paretoNbd", "mbgNbd"] as const) {
      const result = computeSegments(state, { asOf: sim.asOf, value: { model } });
      expect(result.servedValue?.repeat.model).toBe(model);
      expect(compare(bundled, result), model).toEqual({ customers: 2_000, differences: [] });
    }
  });
});
