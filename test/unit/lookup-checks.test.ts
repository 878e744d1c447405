/**
 * The lookup function's hand-written checks (shared/api/lookup-checks.ts) against the zod mini schemas they
 * stand for (shared/api/lookup-checks-reference.ts): on valid inputs, each field missing, of the wrong type,
 * too long or short, regex misses, unicode, non-integer or negative versions, extra fields, arrays with bad
 * elements, null and non-objects, written out and drawn by a seeded generator, both must give the same
 * outcome: accepted with the same value (deep equal, same keys in the same order, -0 kept apart from 0), or
 * rejected with the same issues (code, path, message) and so the same details of a 400 answer.
 */
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../scripts/random";
import * as checks from "../../shared/api/lookup-checks";
import * as reference from "../../shared/api/lookup-checks-reference";
import { issuesToDetails } from "../../shared/http/validation";

type Check = Parameters<typeof checks.run>[0];
interface Schema {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: unknown }
    | { success: false; error: { issues: Array<{ code: string; path: PropertyKey[]; message: string }> } };
}

const PAIRS = {
  customerParams: [checks.customerParams, reference.customerParams],
  lookupEnv: [checks.lookupEnv, reference.lookupEnv],
  storedMeta: [checks.storedMeta, reference.storedMeta],
  storedVersion: [checks.storedVersion, reference.storedVersion],
  storedView: [checks.storedView, reference.storedView],
} as unknown as Record<string, [Check, Schema]>;

/** Every object's keys in order, recursively: deep equality alone ignores the order JSON would show. */
function keyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(keyOrder);
  if (typeof value === "object" && value !== null)
    return Object.entries(value).map(([k, v]) => [k, keyOrder(v)]);
  return typeof value;
}

/** What differs between the check and the schema on `value`, or undefined when they agree. */
function difference(name: string, value: unknown): string | undefined {
  const [check, schema] = PAIRS[name] as [Check, Schema];
  const mine = checks.run(check, value);
  const ref = schema.safeParse(value);
  const shown = () => {
    try {
      return JSON.stringify(value)?.slice(0, 300);
    } catch {
      return String(value);
    }
  };
  if (mine.ok !== ref.success) return `${name} ${shown()}: accepted ${mine.ok} against zod's ${ref.success}`;
  if (mine.ok && ref.success) {
    if (
      !isDeepStrictEqual(mine.value, ref.data) ||
      !isDeepStrictEqual(keyOrder(mine.value), keyOrder(ref.data))
    )
      return `${name} ${shown()}: value ${JSON.stringify(mine.value)} against ${JSON.stringify(ref.data)}`;
    return undefined;
  }
  if (mine.ok || ref.success) return "unreachable";
  const expected = ref.error.issues.map((i) => ({ code: i.code, path: i.path, message: i.message }));
  if (!isDeepStrictEqual(mine.issues, expected))
    return `${name} ${shown()}: issues ${JSON.stringify(mine.issues)} against ${JSON.stringify(expected)}`;
  const details = checks.issuesToDetails("path", mine.issues);
  const refDetails = issuesToDetails("path", ref.error.issues as never);
  if (!isDeepStrictEqual(details, refDetails)) return `${name}: details differ`;
  return undefined;
}

function expectSame(name: string, values: readonly unknown[]): void {
  const differences = values.map((v) => difference(name, v)).filter((d) => d !== undefined);
  expect(differences.slice(0, 5), `${differences.length} of ${values.length} differ`).toEqual([]);
}

const ODD: readonly unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  1.5,
  -2.25,
  2 ** 53,
  -(2 ** 60),
  1e308,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  "",
  "x",
  " ",
  "é",
  "😀",
  "\ud800",
  "a".repeat(129),
  "😀".repeat(65),
  [],
  [1],
  ["a", 2],
  {},
  { length: 5 },
  { length: 500 },
  { length: "abc" },
  { length: null },
  new Date(0),
  Object.create(null),
  new Map([["a", 1]]),
  10n,
  Symbol("s"),
  () => 1,
];

const SEGMENTS = [
  { id: "rfm:champions", family: "rfm", name: "Champions", size: 2 },
  { id: "lifecycle:active", family: "lifecycle", name: "Active", size: 0 },
];
const VERSION = {
  version: 3,
  runId: "r1",
  asOf: "2025-10-01",
  completedAt: "2025-10-01T00:05:00.000Z",
  segments: SEGMENTS,
  clusters: {
    featureNames: ["r", "f"],
    ids: ["c0", "c1"],
    descriptions: ["a", "b"],
    centroids: [
      [1, 2],
      [-0, 3.5],
    ],
  },
  value: { horizonDays: 365, selectedModel: "bgNbd", nested: { a: [1] } },
  servedValue: '{"model":"bgNbd"}',
};
const VIEW = {
  firstPurchase: "2025-01-02",
  lastPurchase: "2025-09-20",
  frequency: 3,
  monetary: 230.5,
  r: 5,
  f: 4,
  m: 4,
  rfm: "544",
  lifecycle: "lifecycle:active",
  cluster: "c1",
  probabilityAlive: 0.93,
  expectedPurchases: 1.2,
  expectedPurchasesLow: 0.8,
  expectedPurchasesHigh: 1.7,
  clv: 120.25,
  clvLow: 80,
  clvHigh: 160,
  repeatPurchases: 2,
  nextBestCategory: "shoes",
  valueInputs: { x: 2, tx: 100, firstDay: 20000, mx: 75.5, fallbackOrderValue: 60 },
  segments: ["rfm:champions", "lifecycle:active"],
  attributes: { country: "NO" },
};
const ENV = {
  TABLE_NAME: "segmentation",
  AWS_REGION: "eu-north-1",
  AWS_ENDPOINT_URL_DYNAMODB: "http://localhost:8000",
  DEFAULT_TENANT: "demo",
  SCOPE_PREFIX: "segmentation",
  REQUIRE_TENANT_CLAIM: "true",
  PATH: "/usr/bin",
};
const PARAMS = { datasetId: "shop", customerId: "C01" };

/** The value with `key` replaced by each odd value, and without it. */
function eachField(base: Record<string, unknown>): unknown[] {
  const out: unknown[] = [base];
  for (const key of Object.keys(base)) {
    const { [key]: _, ...without } = base;
    out.push(without);
    for (const odd of ODD) out.push({ ...base, [key]: odd });
  }
  return out;
}

describe("the lookup's checks answer as the zod mini schemas", () => {
  it("path parameters: valid ids, each field missing or odd, lengths and patterns at their edges, unicode", () => {
    const ids = [
      "a",
      "A-b_9",
      "-a",
      "_a",
      "a b",
      "a.b",
      "é",
      "a".repeat(64),
      "a".repeat(65),
      "shop\n",
      "😀",
      "",
      "x".repeat(128),
      "x".repeat(129),
      "😀".repeat(64),
      "😀".repeat(128),
      "😀".repeat(129),
      `${"x".repeat(127)}😀`,
      "\ud800".repeat(128),
      "\udc00\ud800",
      "C01 ",
    ];
    const values: unknown[] = [...eachField(PARAMS), ...ODD, { ...PARAMS, extra: 1 }];
    for (const datasetId of ids) for (const customerId of ids) values.push({ datasetId, customerId });
    expectSame("customerParams", values);
  });

  it("the configuration: defaults, the URL trimmed, a bad tenant pattern, an unknown flag value", () => {
    const values: unknown[] = [...eachField(ENV), { TABLE_NAME: "t" }, {}, ...ODD];
    for (const endpoint of [
      " http://localhost:8000\n",
      "http://exa\tmple.com",
      "localhost:8000",
      "not a url",
      "https://",
      "mailto:x@y",
      "\u00a0http://x\u00a0",
      "",
    ])
      values.push({ ...ENV, AWS_ENDPOINT_URL_DYNAMODB: endpoint });
    for (const tenant of ["", "a b", "x".repeat(65), "Acme_1-2"])
      values.push({ ...ENV, DEFAULT_TENANT: tenant });
    for (const flag of ["TRUE", "1", "", "false"]) values.push({ ...ENV, REQUIRE_TENANT_CLAIM: flag });
    expectSame("lookupEnv", values);
  });

  it("META's committed version: each field missing or odd, versions, segments and clusters with bad elements", () => {
    const values: unknown[] = [...eachField(VERSION), ...ODD];
    for (const version of [0, -0, 1, -1, 2.5, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e300, -1e300])
      values.push({ ...VERSION, version });
    for (const bad of ODD) {
      values.push({ ...VERSION, segments: [SEGMENTS[0], bad] });
      values.push({ ...VERSION, segments: [{ ...SEGMENTS[0], size: bad }] });
      values.push({ ...VERSION, clusters: { ...VERSION.clusters, centroids: [[1, bad], bad] } });
      values.push({ ...VERSION, clusters: { ...VERSION.clusters, ids: [bad] } });
    }
    values.push({ ...VERSION, value: { [Symbol("s")]: 1, a: 2 } });
    values.push({ ...VERSION, value: Object.assign(Object.create(null), { a: 1 }) });
    values.push({ ...VERSION, segments: [1, 2, 3], clusters: 4, runId: 5 });
    const meta = values.map((current) => ({ pk: "T#a#D#b", sk: "META", current }));
    expectSame("storedVersion", values);
    expectSame("storedMeta", [...meta, ...ODD, { pk: "x" }, { current: undefined }]);
  });

  it("a stored view: each field missing or odd, extra fields kept in order, numeric keys, bad segments", () => {
    const values: unknown[] = [...eachField(VIEW), ...ODD];
    values.push({ ...VIEW, 2: "two", zeta: undefined, alpha: null, __proto__: { inherited: 1 } });
    values.push(JSON.parse(`{"__proto__": {"x": 1}, "firstPurchase": "a", "segments": []}`));
    values.push({ ...VIEW, segments: ["a", 1, null] }, { ...VIEW, valueInputs: { x: 1 } });
    values.push({ firstPurchase: 1, lastPurchase: 2, frequency: "3", segments: "a" });
    expectSame("storedView", values);
  });

  it("agree on 20,000 values drawn from a seeded generator of these shapes", () => {
    const random = mulberry32(15);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const text = (max: number): string => {
      const alphabet = ["a", "Z", "0", "-", "_", " ", ".", "é", "😀", "\ud800", "\n"];
      let s = "";
      const n = Math.floor(random() * max);
      for (let i = 0; i < n; i++) s += random() < 0.9 ? pick(alphabet.slice(0, 5)) : pick(alphabet);
      return s;
    };
    /** The value changed at random places: fields dropped, replaced by odd values, added; nested too. */
    const mutate = (value: unknown, depth: number): unknown => {
      if (random() < 0.08) return pick(ODD);
      if (Array.isArray(value)) {
        const out = value.map((v) => (random() < 0.2 ? mutate(v, depth + 1) : v));
        if (random() < 0.1) out.push(pick(ODD));
        return out;
      }
      if (typeof value !== "object" || value === null || depth > 4) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const r = random();
        if (r < 0.06) continue;
        out[k] = r < 0.25 ? mutate(v, depth + 1) : v;
      }
      if (random() < 0.1) out[pick(["extra", "0", "firstPurchase", "version", "x"])] = pick(ODD);
      return out;
    };
    const draws: Record<string, unknown[]> = {
      customerParams: [],
      lookupEnv: [],
      storedVersion: [],
      storedView: [],
    };
    for (let i = 0; i < 5_000; i++) {
      draws.customerParams?.push(mutate({ datasetId: text(70), customerId: text(140) }, 0));
      draws.lookupEnv?.push(
        mutate(
          {
            ...ENV,
            DEFAULT_TENANT: pick(["demo", "Acme_1-2", undefined, text(70)]),
            AWS_ENDPOINT_URL_DYNAMODB: pick([
              "http://localhost:8000",
              " https://x.example/ ",
              undefined,
              text(30),
            ]),
          },
          0,
        ),
      );
      draws.storedVersion?.push(mutate({ ...VERSION, version: pick([0, 1, 7, -1, 0.5, 2 ** 53]) }, 0));
      draws.storedView?.push(mutate(VIEW, 0));
    }
    for (const [name, values] of Object.entries(draws)) {
      expectSame(name, values);
      // Both outcomes are drawn often: the generator neither only breaks nor only keeps the shapes.
      const accepted = values.filter((v) => checks.run((PAIRS[name] as [Check, Schema])[0], v).ok).length;
      expect(accepted / values.length, name).toBeGreaterThan(0.1);
      expect(accepted / values.length, name).toBeLessThan(0.9);
    }
  });
});
