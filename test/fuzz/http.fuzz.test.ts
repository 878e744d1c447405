/**
 * Fuzzing every HTTP route (reliability properties 6, 7 and 10): API Gateway (HTTP API, payload 2.0) events
 * with arbitrary bodies, path parameters, query strings, headers and authorizer claims go to the real Lambda
 * handlers (functions/read-api, functions/write-api and functions/lookup-api, loaded as Lambda loads them, with their runtime wired
 * from the environment) over DynamoDB Local and the S3 server. No in-memory store is involved.
 *
 * The data behind them is real: a dataset computed from test/fixtures/e2e by the pipeline in two runs, a
 * dataset without a run, another tenant's dataset, and cursors the service itself issued (current, stale,
 * of other queries and of the other tenant), which the generators pick from, tamper with and forge.
 *
 * Properties of every answer, on every route:
 * - never a 5xx, whatever came in (but 503 DRY_RUN_TIMEOUT from a dry run that ran out of time);
 * - a JSON body with the content type to match (204 alone has none);
 * - an error is `{ error: { code, message, details } }` with a code the route's contract lists (errorsOf)
 *   and the status that code has in ERROR_STATUS;
 * - a success has a status the route's contract lists and a body its answer schema accepts;
 * - a 400 never repeats a text the body carried (every generated body text carries a canary);
 * - a caller succeeds on a dataset only if its own tenant holds one of that id (property 9): other tenants'
 *   datasets of the same name are invisible to it.
 * Each route must also answer some requests with success and some with VALIDATION_FAILED, so a generator
 * that stopped reaching the route's core would fail the test.
 *
 * `npm test` runs about 6,100 cases with a fixed seed (about 20 s); `npm run fuzz` multiplies them
 * (FUZZ_SCALE) with a printed seed (FUZZ_SEED).
 */

import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { z } from "zod";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { CONTRACTS, ERROR_STATUS, errorsOf } from "../../shared/api/contract";
import { EXPORT_COLUMNS } from "../../shared/api/exports";
import { CATEGORICAL_TRAITS, DATE_TRAITS, NUMERIC_TRAITS, OPERATORS } from "../../shared/engine/rules";
import { MAX_BODY_BYTES, takesBody } from "../../shared/http/api";
import type { UploadRecord } from "../../shared/model";
import { runUpload } from "../../shared/pipeline/run";
import { type HttpFunctionName, ROUTES, type RouteId, routeKey } from "../../shared/routes";
import type { Runtime } from "../../shared/runtime";
import { createTestBucket, createTestTable, testClients, uniqueName } from "../support/aws";
import { fuzzing, fuzzRuns, fuzzSeed } from "../support/fuzz";
import { PROTOTYPE_NAMES } from "../support/prototype-names";

/**
 * No request leaves the machine: webhook URLs in the bodies name IP literals only, which the SSRF guard
 * checks without resolving, and any name it would resolve all the same is refused here and recorded.
 */
const dns = vi.hoisted(() => ({ lookups: [] as string[] }));
vi.mock("node:dns/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:dns/promises")>();
  const lookup = async (host: string) => {
    dns.lookups.push(host);
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  };
  return { ...actual, lookup, default: { ...actual, lookup } };
});

type Route = (typeof ROUTES)[number];
type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

const TENANT = "t1";
const OTHER_TENANT = "t2";
const PREFIX = "segmentation";
const ALL_SCOPES = ["read", "write", "admin"].map((s) => `${PREFIX}/${s}`);
/** Planted in every text a generated body carries; a 400 must never repeat it. */
const CANARY = "Qz7canary";
const prototypeKey = fc.constantFrom(...PROTOTYPE_NAMES);

/** An object with one own key (as JSON.parse makes "__proto__" an own key, not the prototype). */
function ownKeyed(key: string, value: unknown): Record<string, unknown> {
  return Object.defineProperty({}, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Whether a JSON text holds an object with a key of PROTOTYPE_NAMES anywhere (false for text that is not JSON). */
function hasPrototypeKey(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return false;
  }
  const names = new Set<string>(PROTOTYPE_NAMES);
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    for (const [k, child] of Object.entries(v)) {
      if (names.has(k)) return true;
      stack.push(child);
    }
  }
  return false;
}

/**
 * RFC 6749 §3.3, written out here rather than taken from the service: a `scope` claim is a string of scope
 * tokens (printable ASCII but space, '"' and '\\') separated by single spaces; `scp` is an array of such
 * strings, which API Gateway hands on flattened to "[a b c]" and lists in `jwt.scopes`. Nothing else grants.
 */
const SCOPE_TOKEN_RFC = /^[!#-[\]-~]+$/;
function scopeTokens(value: unknown): string[] {
  if (typeof value !== "string" || value === "") return [];
  const tokens = value.split(" ");
  return tokens.every((t) => SCOPE_TOKEN_RFC.test(t)) ? tokens : [];
}
function scpTokens(value: unknown): string[] {
  if (Array.isArray(value)) {
    return value.length > 0 && value.every((t) => typeof t === "string" && SCOPE_TOKEN_RFC.test(t))
      ? value
      : [];
  }
  if (typeof value === "string" && value.startsWith("[") && value.endsWith("]")) {
    return scopeTokens(value.slice(1, -1));
  }
  return [];
}
/** How a generated authorizer context grants `needed`: by its scope claim, by scp and the list, or not. */
function grantOf(authorizer: unknown, needed: string): "scope" | "scp" | undefined {
  const jwt = (authorizer as { jwt?: { claims?: unknown; scopes?: unknown } } | null | undefined)?.jwt;
  const claims = jwt?.claims;
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) return undefined;
  const c = claims as Record<string, unknown>;
  if (Object.hasOwn(c, "scope") && scopeTokens(c.scope).includes(needed)) return "scope";
  const listed = Array.isArray(jwt?.scopes) && (jwt.scopes as unknown[]).includes(needed);
  return listed && Object.hasOwn(c, "scp") && scpTokens(c.scp).includes(needed) ? "scp" : undefined;
}

let handlers: Record<HttpFunctionName, Handler>;
let rt: Runtime;
/** Ids the generators pick from, so that many cases reach the deepest code of a route. */
const known = {
  datasets: ["shop", "shop", "shop", "shop", "fresh", "theirs", "nope"],
  /** Rule segments saved in beforeAll; the fuzzed routes save, read and delete among them. */
  definitions: ["rule:big", "rule:a", "rule:b", "rule:c", "rule:none"],
  segments: ["rfm:nobody"] as string[],
  /** Segments of the committed version that no fuzzed request deletes (all but rule segments). */
  lasting: [] as string[],
  customers: ["C01", "C02", "C10", "C99"],
  runs: ["19990101000000000-000000000000"] as string[],
  /** List segments saved in beforeAll (by slug and by segment id), and one that does not exist. */
  lists: ["vip", "list:vip", "spare", "list:spare", "nope"],
  /** Lookalikes saved in beforeAll (by slug and by segment id), and one that does not exist. */
  lookalikes: ["like-vip", "lookalike:like-vip", "like-spare", "lookalike:like-spare", "nope"],
  /** Destinations created in beforeAll that no fuzzed request deletes, and one that never existed. */
  destinations: ["dst_aaaaaaaaaaaaaaaaaaaa"] as string[],
  /** Destinations created in beforeAll for deleteDestination to delete. */
  disposableDestinations: [] as string[],
  cursors: [] as string[],
  /** The same cursors by the route that issued them, replayed with the path they belong to. */
  cursorsByRoute: new Map<RouteId, string[]>(),
  /** Ids the service handed out in answers during the run (e.g. erasureId), by the name of their field. */
  harvested: new Map<string, Set<string>>(),
};

/** Keeps the ids and cursors of a successful answer for the routes fuzzed after it. */
function harvest(routeId: RouteId, text: string): void {
  const body = JSON.parse(text) as Record<string, unknown>;
  for (const [key, value] of Object.entries(body)) {
    if (typeof value !== "string") continue;
    if (key === "nextCursor" && known.cursors.length < 200) {
      known.cursors.push(value);
      const issued = known.cursorsByRoute.get(routeId) ?? [];
      issued.push(value);
      known.cursorsByRoute.set(routeId, issued);
    }
    if (!key.endsWith("Id")) continue;
    const pool = known.harvested.get(key) ?? new Set<string>();
    if (pool.size < 50) pool.add(value);
    known.harvested.set(key, pool);
  }
}

const fixture = (name: string) => readFile(resolve(import.meta.dirname, "../fixtures/e2e", name));

let uploads = 0;
async function upload(tenantId: string, datasetId: string, file: string): Promise<void> {
  const uploadId = `seed-${++uploads}`;
  const key = `uploads/${tenantId}/${datasetId}/${uploadId}/${file}`;
  const record: UploadRecord = {
    tenantId,
    datasetId,
    uploadId,
    kind: "transactions",
    mode: "append",
    format: "csv",
    compression: "auto",
    fileName: file,
    key,
    createdAt: new Date(Date.now() + uploads).toISOString(),
  };
  await rt.store.ensureDataset(tenantId, datasetId);
  await rt.store.putUpload(record);
  await testClients().s3.send(
    new PutObjectCommand({ Bucket: rt.config.BUCKET_NAME, Key: key, Body: await fixture(file) }),
  );
  const outcome = await runUpload(
    { store: rt.store, blobs: rt.blobs },
    {
      tenantId,
      datasetId,
      uploadId,
      key,
      sequencer: String(uploads).padStart(16, "0"),
      eventTime: new Date().toISOString(),
    },
  );
  if (outcome.outcome !== "succeeded") throw new Error(`seeding ${file}: ${outcome.outcome}`);
}

/** The tenants that hold a dataset of each id: those of beforeAll, and those the fuzzed requests create. */
const owners = new Map<string, Set<string>>([
  ["shop", new Set([TENANT])],
  ["fresh", new Set([TENANT])],
  ["theirs", new Set([OTHER_TENANT])],
]);
const CREATING: readonly RouteId[] = ["createDataset", "createUpload"];

function own(datasetId: string, tenant: string): void {
  const tenants = owners.get(datasetId) ?? new Set<string>();
  tenants.add(tenant);
  owners.set(datasetId, tenants);
}

/**
 * The tenant a request acts for, by the rules of shared/http/auth.ts, when its claims name one plainly (or
 * none, which means the default tenant); undefined for claims that are refused anyway.
 */
function actingTenant(authorizer: unknown): string | undefined {
  const claims = (authorizer as { jwt?: { claims?: unknown } } | null | undefined)?.jwt?.claims;
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) return undefined;
  const c = claims as Record<string, unknown>;
  const named = [c.tenant, c["custom:tenant"]].filter((v) => v !== undefined && v !== null && v !== "");
  if (named.length === 0) return "demo";
  return named.every((v) => v === named[0]) && typeof named[0] === "string" ? named[0] : undefined;
}

const lambdaContext = { awsRequestId: "fuzz", getRemainingTimeInMillis: () => 29_000 } as unknown as Context;

const validCaller = (tenant = TENANT) => ({
  jwt: { claims: { sub: "fuzz", scope: ALL_SCOPES.join(" "), tenant }, scopes: null },
});

function eventFor(
  route: Route,
  parts: {
    params?: Record<string, string | undefined> | undefined;
    query?: Record<string, string> | undefined;
    body?: string | undefined;
    base64?: boolean;
    headers?: Record<string, string> | undefined;
    authorizer?: unknown;
    noContext?: boolean;
  },
): APIGatewayProxyEventV2 {
  const rawPath = route.path.replace(/\{(\w+)\}/g, (_m, name: string) =>
    encodeURIComponent(parts.params?.[name] ?? ""),
  );
  return {
    version: "2.0",
    routeKey: routeKey(route),
    rawPath,
    rawQueryString: new URLSearchParams(parts.query ?? {}).toString(),
    ...(parts.headers === undefined ? {} : { headers: parts.headers }),
    ...(parts.query === undefined ? {} : { queryStringParameters: parts.query }),
    ...(parts.params === undefined ? {} : { pathParameters: parts.params }),
    ...(parts.noContext
      ? {}
      : {
          requestContext: {
            requestId: "fuzz",
            routeKey: routeKey(route),
            http: { method: route.method, path: rawPath },
            ...(parts.authorizer === undefined ? {} : { authorizer: parts.authorizer }),
          },
        }),
    ...(parts.body === undefined ? {} : { body: parts.body }),
    isBase64Encoded: parts.base64 ?? false,
  } as APIGatewayProxyEventV2;
}

async function invoke(route: Route, event: APIGatewayProxyEventV2) {
  const result = (await handlers[route.fn](event, lambdaContext)) as APIGatewayProxyStructuredResultV2;
  return {
    status: result.statusCode ?? 0,
    headers: (result.headers ?? {}) as Record<string, string>,
    text: result.body ?? "",
  };
}

const ERROR_KEYS = ["code", "details", "message"];

/** The properties every answer must have; returns the error code, if any. */
function checkAnswer(route: Route, answer: Awaited<ReturnType<typeof invoke>>): string | undefined {
  const { status, text } = answer;
  // The one 5xx with a meaning: a dry run that could not finish in its budget (a loaded machine) says so.
  const timedOut = route.id === "dryRun" && status === 503 && text.includes('"DRY_RUN_TIMEOUT"');
  if (!timedOut) expect(status, `${route.id} answered ${status}: ${text.slice(0, 500)}`).toBeLessThan(500);
  expect(status).toBeGreaterThanOrEqual(200);
  if (status === 204) {
    expect(text).toBe("");
  } else {
    expect(answer.headers["content-type"]).toMatch(/^application\/json\b/);
  }
  const responses = CONTRACTS[route.id].responses as Record<number, z.ZodType | null>;
  if (status < 300) {
    expect(Object.keys(responses), `${route.id} answered ${status}`).toContain(String(status));
    const schema = responses[status];
    if (schema) {
      const parsed = schema.safeParse(JSON.parse(text));
      expect(parsed.success, `${route.id} ${status}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
    return undefined;
  }
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
  expect(Object.keys(body)).toEqual(["error"]);
  const error = body.error ?? {};
  expect(Object.keys(error).sort()).toEqual(ERROR_KEYS);
  expect(typeof error.code).toBe("string");
  expect(typeof error.message).toBe("string");
  expect(Array.isArray(error.details)).toBe(true);
  for (const detail of error.details as unknown[]) {
    const d = detail as Record<string, unknown>;
    expect(typeof d.code).toBe("string");
    expect(typeof d.message).toBe("string");
    if ("path" in d) expect(typeof d.path).toBe("string");
  }
  const code = error.code as string;
  const listed = errorsOf(route.id).filter((c) => c !== "INTERNAL") as string[];
  expect(listed, `${route.id} answered ${code}`).toContain(code);
  expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS]).toBe(status);
  if (status === 400) expect(text).not.toContain(CANARY);
  return code;
}

// ---- generators ----------------------------------------------------------------------------------------

/** Strings a path or query could carry: any code point, '%' sequences, key separators, long ones. */
const oddString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.string({
    unit: fc.constantFrom(
      "%",
      "2",
      "F",
      "0",
      "e",
      "9",
      "é",
      "/",
      "#",
      "\u0000",
      ".",
      ":",
      " ",
      "+",
      "\uFFFD",
    ),
    maxLength: 40,
  }),
  fc
    .integer({ min: 100, max: 3000 })
    .chain((n) => fc.constantFrom("a", "é", "😀", "%").map((c) => c.repeat(n))),
  fc.constantFrom(
    "",
    " ",
    ".",
    "..",
    "/",
    "%",
    "%2F",
    "%ZZ",
    "%E0%A4%A",
    "T#t1#D#shop",
    "__proto__",
    "constructor",
  ),
);

/** Text of any code point, lone surrogates and NUL included, always carrying the canary. */
const anyText = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.string({
      unit: fc.constantFrom("\ud800", "\udfff", "\u0000", "\u202e", "é", "😀", '"', "\\"),
      maxLength,
    }),
  );
const text = (max = 40) => anyText(max).map((s) => `${CANARY}${s}`);

/** A value that fits nowhere: any JSON, a long text, a nesting deep enough to hurt a recursive walker. */
const wrong = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2, stringUnit: "binary" }) },
  { weight: 1, arbitrary: text(20) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 120_000 }).map((n) => `${CANARY}${"x".repeat(n)}`) },
  {
    weight: 1,
    // Deeper nestings, up to the body limit, come as raw text in bodyArb: JSON.stringify itself recurses.
    arbitrary: fc.integer({ min: 20, max: 2_000 }).map((n) => {
      let v: unknown = CANARY;
      for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
      return v;
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1e308, "", [], {}, "__proto__") },
);

/** Mostly `valid`, now and then a value of the wrong kind. */
const field = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 10, arbitrary: valid }, { weight: 1, arbitrary: wrong });

/** Keys an object of the contract does not have, Object.prototype's names among them. */
const extraKeys = fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), prototypeKey, fc.constant("")), wrong, {
  maxKeys: 2,
});

const ABSENT = Symbol("absent");

/**
 * Objects of the contract's shape: each key present most of the time (valid or wrong, by `field`), now and
 * then a key it does not have.
 */
function shaped<T extends Record<string, unknown>>(fields: { [K in keyof T]: fc.Arbitrary<T[K]> }) {
  const keys = Object.keys(fields) as (keyof T & string)[];
  const present = fc.tuple(
    ...keys.map((k) => fc.option(fields[k] as fc.Arbitrary<unknown>, { freq: 8, nil: ABSENT })),
  );
  return fc
    .tuple(present, fc.oneof({ weight: 6, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extraKeys }))
    .map(([values, extra]) => {
      const out: Record<string, unknown> = {};
      // Extra keys through defineProperty, so "__proto__" becomes an own key as JSON.parse makes it.
      for (const [k, v] of Object.entries(extra))
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      keys.forEach((k, i) => {
        if (values[i] !== ABSENT) out[k] = values[i];
      });
      return out;
    });
}

const days = fc.oneof(fc.integer({ min: 1, max: 400 }), fc.integer({ min: -10, max: 5000 }));
const isoDay = fc.oneof(
  fc.constantFrom("2025-10-01", "2025-02-28", "2024-02-29", "1970-01-01"),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 99 }),
      fc.integer({ min: 0, max: 99 }),
    )
    .map(
      ([y, m, d]) =>
        `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`,
    ),
);

const settings = shaped({
  asOf: field(isoDay),
  currency: field(fc.constantFrom("EUR", "USD", "eur", "EURO")),
  lifecycle: field(shaped({ newDays: field(days), activeDays: field(days), lapsedDays: field(days) })),
  clusters: field(
    shaped({
      enabled: field(fc.boolean()),
      k: field(fc.integer({ min: 0, max: 25 })),
      kMin: field(fc.integer({ min: 0, max: 25 })),
      kMax: field(fc.integer({ min: 0, max: 25 })),
      seed: field(fc.integer({ min: -1, max: 2 ** 31 })),
    }),
  ),
  value: field(
    shaped({
      enabled: field(fc.boolean()),
      horizonDays: field(days),
      annualDiscountRate: field(fc.double({ min: -1, max: 2, noNaN: true })),
    }),
  ),
  scheduledRefresh: field(fc.boolean()),
});

const FIELDS = [
  ...NUMERIC_TRAITS,
  ...DATE_TRAITS,
  ...CATEGORICAL_TRAITS,
  "channel_share.web",
  "category_share.music",
  "attributes.email",
  `attributes.${CANARY}`,
  ...PROTOTYPE_NAMES.map((k) => `attributes.${k}`),
  "channel_share.constructor",
  "category_share.__proto__",
];
const scalar = fc.oneof(
  fc.double({ noNaN: true }),
  fc.integer({ min: -1000, max: 1000 }),
  text(10),
  fc.constantFrom("rfm:champions", "champions", "cluster:c1", "lifecycle:active", "2025-06-01", "web"),
  fc.boolean(),
  fc.record({ days_ago: fc.oneof(fc.integer({ min: -5, max: 40_000 }), fc.double()) }),
);
/** Conditions the engine accepts: an operator and value that suit the field's kind. */
const number = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 53 + 2, -1e300, 5e-324, 1e-131, -0) },
);
const share = fc.double({ min: 0, max: 1, noNaN: true });
const day = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("2025-06-01", "2025-09-20", "2024-02-29") },
  { weight: 8, arbitrary: fc.record({ days_ago: fc.integer({ min: 0, max: 36_500 }) }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(prototypeKey, fc.integer({ min: 0, max: 400 }))
      .map(([k, n]) => Object.assign(ownKeyed(k, n), { days_ago: n })),
  },
);
const word = fc.oneof(fc.constantFrom("champions", "at-risk", "c1", "active", "web"), text(12));
const typed = (fields: readonly string[], value: fc.Arbitrary<unknown>, ops: readonly string[]) =>
  fc.oneof(
    fc.record({ field: fc.constantFrom(...fields), op: fc.constantFrom(...ops), value }),
    fc.record({
      field: fc.constantFrom(...fields),
      op: fc.constantFrom("in", "not_in"),
      value: fc.array(value, { minLength: 1, maxLength: 4 }),
    }),
    fc.record({ field: fc.constantFrom(...fields), op: fc.constantFrom("exists", "not_exists") }),
  );
const ORDER_OPS = ["eq", "neq", "gt", "gte", "lt", "lte"];
const validCondition = fc.oneof(
  typed(NUMERIC_TRAITS, number, ORDER_OPS),
  fc.record({
    field: fc.constantFrom(...NUMERIC_TRAITS),
    op: fc.constant("between"),
    value: fc.tuple(number, number),
  }),
  typed(["channel_share.web", "category_share.music", "channel_share.constructor"], share, ORDER_OPS),
  typed(DATE_TRAITS, day, [...ORDER_OPS, "before", "after"]),
  typed(CATEGORICAL_TRAITS, word, ["eq", "neq", "contains", "starts_with"]),
  typed(
    ["attributes.email", `attributes.${CANARY}`, ...PROTOTYPE_NAMES.map((k) => `attributes.${k}`)],
    fc.oneof(word, number, fc.boolean()),
    ["eq", "neq", "contains"],
  ),
);
const condition = fc.oneof(
  { weight: 3, arbitrary: validCondition },
  {
    weight: 1,
    arbitrary: shaped({
      field: field(fc.constantFrom(...FIELDS)),
      op: field(fc.constantFrom(...OPERATORS)),
      value: field(fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }))),
    }),
  },
);
const { rule } = fc.letrec<{ rule: unknown }>((tie) => ({
  rule: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    condition,
    fc.record({ and: fc.array(tie("rule"), { maxLength: 4 }) }),
    fc.record({ or: fc.array(tie("rule"), { maxLength: 4 }) }),
    fc.record({ not: tie("rule") }),
  ),
}));
/** A rule node under a key of Object.prototype, beside or instead of and/or, a rule of the above inside. */
const prototypeRule = fc
  .tuple(prototypeKey, fc.constantFrom("and", "or", undefined), rule)
  .map(([k, op, r]) => Object.assign(ownKeyed(k, [r]), op === undefined ? {} : { [op]: [r] }));
/** Rules nested past the limit of ten levels (as objects: JSON.stringify recurses; deeper ones are text). */
const deepRule = fc
  .tuple(fc.integer({ min: 8, max: 600 }), fc.constantFrom("and", "or", "not"))
  .map(([n, op]) => {
    let r: unknown = { field: "monetary", op: "gte", value: 1 };
    for (let i = 0; i < n; i++) r = op === "not" ? { not: r } : { [op]: [r] };
    return r;
  });
/** A definition whose rule nests up to the body limit, written out as text. */
const deepRuleText = fc
  .tuple(fc.integer({ min: 1_000, max: 40_000 }), fc.constantFrom('{"not":', '{"and":[', '{"or":['))
  .map(([n, open]) => {
    const close = open === '{"not":' ? "}" : "]}";
    return `{"name":"Deep","rule":${open.repeat(n)}{"field":"monetary","op":"gte","value":1}${close.repeat(n)}}`;
  });
const definition = shaped({
  name: field(fc.oneof(fc.constant("Big"), text(30))),
  description: field(text(60)),
  rule: fc.oneof(
    { weight: 6, arbitrary: rule },
    { weight: 1, arbitrary: prototypeRule },
    { weight: 1, arbitrary: deepRule },
    { weight: 1, arbitrary: wrong },
  ),
});

const fileName = fc.oneof(
  fc.constantFrom(
    "orders.csv",
    "orders.csv.gz",
    "people.ndjson",
    "x.jsonl",
    "report",
    "..",
    "a/b.csv",
    "a\\b.csv",
  ),
  text(20).map((s) => `${s}.csv`),
  oddString.map((s) => `${CANARY}${s}`),
);

/** Picks from a pool filled in beforeAll (read when a value is generated, not when the arbitrary is built). */
const late = (pool: () => readonly string[]) => fc.constant(null).chain(() => fc.constantFrom(...pool()));
const customerIds = fc.array(
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known.customers) }, { weight: 1, arbitrary: text(12) }),
  { maxLength: 8 },
);
/** Segment ids of the seeded dataset (and a few it lacks), unique, then now and then any strings. */
const segmentIds = (minLength: number) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.uniqueArray(
        fc.oneof(
          { weight: 6, arbitrary: late(() => known.segments) },
          { weight: 1, arbitrary: fc.constantFrom("rfm:champions", "lifecycle:active", "list:vip") },
        ),
        { minLength, maxLength: 5 },
      ),
    },
    { weight: 1, arbitrary: fc.array(fc.oneof(text(12), fc.constant("rfm:champions")), { maxLength: 60 }) },
  );
/**
 * Webhook URLs whose hosts are IP literals only, so the SSRF guard resolves no name: public ones (accepted,
 * and never called, as the fuzzed functions have no delivery queue), and loopback, private, link-local,
 * http and malformed ones it refuses.
 */
const webhookUrl = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "https://93.184.215.14/hooks/segments",
      "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/h?x=1",
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "https://127.0.0.1/h",
      "https://0x7f000001/h",
      "https://[::1]/h",
      "https://[::ffff:127.0.0.1]/h",
      "https://10.1.2.3/h",
      "https://169.254.169.254/latest/meta-data",
      "https://192.0.2.1/h",
      "http://93.184.215.14/h",
      "ftp://93.184.215.14/h",
      "https://user:pw@93.184.215.14/h",
      "not a url",
      "",
    ),
  },
);
const VALID_CONFIGS = {
  webhook: fc.record({
    url: fc.constantFrom("https://93.184.215.14/hooks/segments", "https://[2606:2800:21f::8b2c]/h"),
  }),
  s3: fc.record(
    {
      bucket: fc.constantFrom("member-lists", "audiences.example"),
      prefix: fc.constantFrom("", "exports", "exports/daily/"),
      format: fc.constantFrom("csv", "jsonl"),
      expectedBucketOwner: fc.constant("123456789012"),
    },
    { requiredKeys: ["bucket"] },
  ),
  audience: fc.record(
    {
      platform: fc.constantFrom("google", "meta"),
      bucket: fc.constantFrom("member-lists", "audiences.example"),
      prefix: fc.constantFrom("", "exports"),
      expectedBucketOwner: fc.constant("123456789012"),
    },
    { requiredKeys: ["platform", "bucket"] },
  ),
};
const bucket = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("member-lists", "audiences.example") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("ab", "Bad_Bucket", "192.168.1.1", "xn--abc", "a..b", "x-s3alias"),
  },
);
const keyPrefix = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("", "exports", "exports/daily/") },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom("/abs", "a/../b", "a b"), text(8)) },
);
const owner = fc.oneof(
  { weight: 4, arbitrary: fc.constant("123456789012") },
  { weight: 1, arbitrary: fc.constantFrom("12345", "1234567890123") },
);
const KIND_CONFIGS = {
  webhook: fc.oneof({ weight: 2, arbitrary: VALID_CONFIGS.webhook }, shaped({ url: field(webhookUrl) })),
  s3: fc.oneof(
    { weight: 2, arbitrary: VALID_CONFIGS.s3 },
    shaped({
      bucket: field(bucket),
      prefix: field(keyPrefix),
      format: field(fc.constantFrom("csv", "jsonl", "xml")),
      expectedBucketOwner: field(owner),
    }),
  ),
  audience: fc.oneof(
    { weight: 2, arbitrary: VALID_CONFIGS.audience },
    shaped({
      platform: field(fc.constantFrom("google", "meta", "tiktok")),
      bucket: field(bucket),
      prefix: field(keyPrefix),
      expectedBucketOwner: field(owner),
    }),
  ),
};
const KINDS = ["webhook", "s3", "audience"] as const;
/** A destination that passes every check of the body, following segments the seeded dataset keeps. */
const validDestination = fc
  .constantFrom<(typeof KINDS)[number]>("webhook", "webhook", "s3", "audience")
  .chain((kind) =>
    fc.record(
      {
        name: fc.oneof(fc.constant("Hook"), text(30)),
        kind: fc.constant(kind),
        segments: fc.uniqueArray(
          late(() => known.lasting),
          { minLength: 1, maxLength: 4 },
        ),
        includeOptedOut: fc.boolean(),
        [kind]: VALID_CONFIGS[kind],
      },
      { requiredKeys: ["name", "kind", "segments", kind] },
    ),
  );
/** A destination of one kind, its settings under the kind's key; now and then another kind's too. */
const destinationBody = fc.oneof(
  { weight: 4, arbitrary: validDestination },
  fc
    .tuple(
      fc.constantFrom(...KINDS),
      fc.oneof(
        { weight: 8, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom(...KINDS) },
      ),
    )
    .chain(([kind, other]) =>
      shaped({
        name: field(fc.oneof(fc.constant("Hook"), text(30))),
        kind: field(fc.oneof({ weight: 8, arbitrary: fc.constant(kind) }, { weight: 1, arbitrary: text(8) })),
        segments: field(segmentIds(1)),
        includeOptedOut: field(fc.boolean()),
        [kind]: field(KIND_CONFIGS[kind]),
        ...(other === null || other === kind ? {} : { [other]: KIND_CONFIGS[other] }),
      }),
    ),
);

/** Seeds a fuzzed request may name without blocking a later deletion: no rule or list segment. */
const lastingSeeds = () => known.lasting.filter((id) => !id.startsWith("list:"));
const lookalikeSize = fc.oneof(
  fc.record({ top: fc.integer({ min: 1, max: 1_000_000 }) }),
  fc.record({ percent: fc.double({ min: 0.001, max: 100, noNaN: true }) }),
);
/** A lookalike that passes every check of the body, seeded by a segment the seeded dataset keeps. */
const validLookalike = fc.record(
  {
    name: fc.oneof(fc.constant("Like"), text(30)),
    description: text(60),
    seed: late(lastingSeeds),
    size: lookalikeSize,
    attributes: fc.array(fc.constantFrom("country", "age"), { maxLength: 2 }),
  },
  { requiredKeys: ["name", "seed", "size"] },
);

const BODIES: Partial<Record<RouteId, fc.Arbitrary<unknown>>> = {
  putLookalike: fc.oneof(
    { weight: 2, arbitrary: validLookalike },
    {
      weight: 3,
      arbitrary: shaped({
        name: field(fc.oneof(fc.constant("Like"), text(30))),
        description: field(text(60)),
        seed: field(
          fc.oneof(
            { weight: 4, arbitrary: late(lastingSeeds) },
            { weight: 1, arbitrary: fc.constantFrom("lookalike:like-vip", "rule:nope", "rfm:champions") },
          ),
        ),
        size: field(
          fc.oneof(
            { weight: 4, arbitrary: lookalikeSize },
            {
              weight: 1,
              arbitrary: fc.constantFrom(
                { top: 0 },
                { percent: 0 },
                { percent: 101 },
                { top: 1, percent: 1 },
              ),
            },
          ),
        ),
        attributes: field(fc.array(fc.oneof(fc.constant("country"), text(10)), { maxLength: 40 })),
      }),
    },
  ),
  putList: shaped({
    name: field(fc.oneof(fc.constant("VIP"), text(30))),
    description: field(text(60)),
    customerIds: field(customerIds),
  }),
  changeListMembers: shaped({ add: field(customerIds), remove: field(customerIds) }),
  getOverlap: shaped({ segments: field(segmentIds(2)) }),
  createDestination: destinationBody,
  putDestination: destinationBody,
  createDataset: shaped({
    datasetId: field(
      fc.oneof(fc.constantFrom("shop", "fresh"), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/)),
    ),
    settings: field(settings),
  }),
  putSettings: settings,
  putDefinition: definition,
  // Random rules are mostly refused; plain ones make sure some cases of every seed reach the dry run itself.
  dryRun: fc.oneof(
    { weight: 4, arbitrary: definition },
    {
      weight: 1,
      arbitrary: fc.record({
        name: fc.constant("Big"),
        rule: fc.record({
          field: fc.constantFrom("monetary", "frequency", "recency_days"),
          op: fc.constantFrom("gte", "lt"),
          value: fc.integer({ min: 0, max: 1000 }),
        }),
      }),
    },
  ),
  createUpload: shaped({
    fileName: field(fileName),
    kind: field(fc.constantFrom("transactions", "customers", "orders")),
    mode: field(fc.constantFrom("append", "replace", "APPEND")),
    format: field(fc.constantFrom("csv", "ndjson", "xlsx")),
    compression: field(fc.constantFrom("auto", "gzip", "none", "zip")),
    columns: field(
      fc.dictionary(
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom("customer_id", "amount") },
          { weight: 3, arbitrary: text(8) },
          { weight: 2, arbitrary: prototypeKey },
        ),
        text(20),
        { maxKeys: 3 },
      ),
    ),
  }),
  createExport: shaped({
    columns: field(
      fc.oneof(
        fc.subarray([...EXPORT_COLUMNS], { minLength: 1 }),
        fc.array(fc.oneof(fc.constantFrom(...EXPORT_COLUMNS), text(8)), { maxLength: 20 }),
      ),
    ),
  }),
};

/** Bytes that are not UTF-8: lone continuation bytes, overlongs, surrogates, truncated sequences. */
const invalidUtf8 = fc.constantFrom(
  [0x80],
  [0xff],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0xfe, 0xfe, 0xff],
);

interface Body {
  body?: string;
  base64?: boolean;
}

/** Long bodies print as their length and opening in a counterexample, not as 256 KB of text. */
function summarized(body: Body): Body {
  const text = body.body ?? "";
  if (text.length <= 2_000) return body;
  const summary = `{ base64: ${body.base64 ?? false}, body: ${JSON.stringify(text.slice(0, 200))}… (${text.length} characters) }`;
  return Object.defineProperty({ ...body }, fc.toStringMethod, { value: () => summary, enumerable: false });
}

/** Bodies of a route beyond what BODIES gives as values. */
const TEXTS: Partial<Record<RouteId, fc.Arbitrary<string>>> = {
  putDefinition: deepRuleText,
  dryRun: deepRuleText,
};

function bodyArb(route: Route): fc.Arbitrary<Body> {
  const value = BODIES[route.id] ?? fc.jsonValue({ maxDepth: 2 });
  const own = TEXTS[route.id];
  const texts = own
    ? fc.oneof(
        { weight: 12, arbitrary: bodyTexts(value) },
        { weight: 1, arbitrary: own.map((body) => ({ body })) },
      )
    : bodyTexts(value);
  return texts.map(summarized);
}

/**
 * A body of the route's shape with a key of Object.prototype added: beside its keys, or inside the first of
 * its values that is an object (a nested record, such as `columns` or `clusters`).
 */
function withPrototypeKey(value: fc.Arbitrary<unknown>): fc.Arbitrary<Body> {
  return fc
    .tuple(value, prototypeKey, fc.jsonValue({ maxDepth: 1 }), fc.boolean())
    .map(([v, key, x, nested]) => {
      const isObject = (o: unknown): o is Record<string, unknown> =>
        typeof o === "object" && o !== null && !Array.isArray(o);
      if (!isObject(v)) return { body: JSON.stringify(ownKeyed(key, x)) };
      const inner = nested ? Object.values(v).find(isObject) : undefined;
      Object.defineProperty(inner ?? v, key, {
        value: x,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return { body: JSON.stringify(v) };
    });
}

function bodyTexts(value: fc.Arbitrary<unknown>): fc.Arbitrary<Body> {
  const json = value.map((v) => JSON.stringify(v) ?? "null");
  return fc.oneof(
    { weight: 10, arbitrary: json.map((body) => ({ body })) },
    { weight: 1, arbitrary: withPrototypeKey(value) },
    { weight: 2, arbitrary: fc.jsonValue().map((v) => ({ body: JSON.stringify(v) })) },
    { weight: 1, arbitrary: fc.constant({}) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          "",
          "null",
          "{",
          "[",
          '{"name":',
          "{}x",
          "\uFEFF{}",
          "NaN",
          "{'a':1}",
          '{"a":1,}',
          "\u0000",
        )
        .map((body) => ({ body })),
    },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "binary", maxLength: 200 }).map((s) => ({ body: CANARY + s })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(json, fc.nat())
        .map(([j, at]) => ({ body: j.slice(0, at % Math.max(1, j.length)) })),
    },
    { weight: 1, arbitrary: json.map((j) => ({ body: Buffer.from(j).toString("base64"), base64: true })) },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 300 })
        .map((b) => ({ body: Buffer.from(b).toString("base64"), base64: true })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(json, fc.nat(), invalidUtf8).map(([j, at, bad]) => {
        const bytes = Buffer.from(j);
        const cut = at % (bytes.length + 1);
        const spliced = Buffer.concat([bytes.subarray(0, cut), Buffer.from(bad), bytes.subarray(cut)]);
        return { body: spliced.toString("base64"), base64: true };
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: 120_000 }), fc.constantFrom("[", '{"a":'))
        .map(([n, open]) => ({ body: open.repeat(n) + (open === "[" ? "]" : "1}").repeat(n) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: 10_000 })
        .map((n) => ({ body: JSON.stringify({ name: `${CANARY}${"y".repeat(MAX_BODY_BYTES + n)}` }) })),
    },
  );
}

const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant<string | undefined>("application/json") },
  {
    weight: 3,
    arbitrary: fc.constantFrom<string | undefined>(
      undefined,
      "application/json; charset=utf-8",
      "application/merge-patch+json",
      "APPLICATION/JSON",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "",
    ),
  },
  { weight: 1, arbitrary: oddString },
);

type Headers = Record<string, string> | undefined;
const headersArb = fc.oneof(
  {
    weight: 8,
    arbitrary: contentType.map((ct): Headers => (ct === undefined ? {} : { "content-type": ct })),
  },
  {
    weight: 1,
    arbitrary: contentType.map((ct): Headers => (ct === undefined ? undefined : { "Content-Type": ct })),
  },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 12 }), oddString, { maxKeys: 3 }) },
);

const authorizerArb = fc.oneof(
  { weight: 14, arbitrary: fc.constant(validCaller()) },
  {
    weight: 2,
    arbitrary: fc.constant({
      jwt: { claims: { scp: `[${ALL_SCOPES.join(" ")}]`, "custom:tenant": TENANT }, scopes: ALL_SCOPES },
    }),
  },
  { weight: 1, arbitrary: fc.constant({ jwt: { claims: { tenant: TENANT }, scopes: ALL_SCOPES } }) },
  {
    weight: 2,
    arbitrary: fc
      .subarray(ALL_SCOPES)
      .map((scopes) => ({ jwt: { claims: { scope: scopes.join(" "), tenant: TENANT }, scopes: null } })),
  },
  { weight: 2, arbitrary: fc.constant(validCaller(OTHER_TENANT)) },
  { weight: 1, arbitrary: fc.constant({ jwt: { claims: { scope: ALL_SCOPES.join(" ") }, scopes: null } }) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.constantFrom(
        undefined,
        null,
        {},
        { jwt: null },
        { jwt: { claims: null } },
        { jwt: { claims: [] } },
        { jwt: { claims: "scope" } },
        { jwt: { claims: { scope: ALL_SCOPES.join(" "), tenant: TENANT, "custom:tenant": OTHER_TENANT } } },
        { jwt: { claims: { scope: ALL_SCOPES.join(" "), tenant: "a/b" } } },
        { jwt: { claims: { scope: ALL_SCOPES.join(" "), tenant: 7 } } },
        { jwt: { claims: { scope: ALL_SCOPES, tenant: TENANT } } },
        { jwt: { claims: { scope: 42 }, scopes: "segmentation/read" } },
        { jwt: { claims: {}, scopes: [1, null, { s: 1 }] } },
      ),
      fc.record({
        jwt: fc.record({
          claims: fc.dictionary(
            fc.oneof(fc.constantFrom("scope", "scp", "tenant", "custom:tenant", "sub"), prototypeKey),
            fc.jsonValue(),
          ),
          scopes: fc.jsonValue(),
        }),
      }),
      fc.tuple(oddString, fc.subarray(ALL_SCOPES)).map(([tenant, scopes]) => ({
        jwt: { claims: { scope: scopes.join(" "), tenant }, scopes: null },
      })),
    ),
  },
  { weight: 3, arbitrary: scopeClaimsArb() },
);

/**
 * Scope claims of every shape, well formed or not (grantOf says which grant): the service's scopes among
 * look-alikes, joined by single or other spaces, bracketed, as JSON, as arrays, in `scope` or `scp`, with the
 * authorizer's own list agreeing or not.
 */
function scopeClaimsArb() {
  const token = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...ALL_SCOPES) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        "openid",
        "email",
        `${PREFIX}/READ`,
        `${PREFIX}/admin/x`,
        `${PREFIX}/`,
        "segmentation",
        '"segmentation/admin"',
        "[segmentation/admin]",
        "segmentation\\/admin",
        "segmentation/admin\u0000",
        "ségmentation/admin",
        "",
      ),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );
  const separator = fc.oneof(
    { weight: 6, arbitrary: fc.constant(" ") },
    { weight: 1, arbitrary: fc.constantFrom("  ", "\t", "\u00a0", "\n", ",", ", ", "+", "\u2003", "\u3000") },
  );
  const joined = fc
    .tuple(fc.array(fc.tuple(token, separator), { minLength: 1, maxLength: 4 }))
    .map(([parts]) => parts.map(([t, sep], i) => (i === 0 ? t : sep + t)).join(""));
  const wrapped = fc.oneof(
    { weight: 6, arbitrary: joined },
    { weight: 1, arbitrary: joined.map((s) => `[${s}]`) },
    { weight: 1, arbitrary: joined.map((s) => ` ${s}`) },
    { weight: 1, arbitrary: joined.map((s) => `${s} `) },
    { weight: 1, arbitrary: fc.array(token, { maxLength: 3 }).map((a) => JSON.stringify(a)) },
  );
  const claimValue = fc.oneof(
    { weight: 8, arbitrary: wrapped },
    { weight: 2, arbitrary: fc.array(token, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 42, true, {}, [["segmentation/admin"]]) },
  );
  const list = fc.oneof(
    fc.constant(null),
    fc.subarray(ALL_SCOPES),
    fc.array(token, { maxLength: 3 }),
    fc.constant(ALL_SCOPES),
  );
  return fc
    .record(
      { scope: claimValue, scp: claimValue, tenant: fc.constantFrom(TENANT, OTHER_TENANT) },
      { requiredKeys: ["tenant"] },
    )
    .chain((claims) => list.map((scopes) => ({ jwt: { claims, scopes } })));
}

function paramArb(route: Route, name: string): fc.Arbitrary<string> {
  const pick = (ids: readonly string[]) => fc.constantFrom(...ids);
  const valid = {
    datasetId: fc.oneof(
      { weight: 4, arbitrary: pick(known.datasets) },
      { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/) },
    ),
    segmentId: fc.oneof(
      {
        weight: 4,
        arbitrary: pick(route.path.includes("/definitions/") ? known.definitions : known.segments),
      },
      { weight: 1, arbitrary: fc.stringMatching(/^(rfm|cluster|lifecycle|rule):[a-z0-9][a-z0-9-]{0,63}$/) },
    ),
    customerId: fc.oneof(
      { weight: 4, arbitrary: pick(known.customers) },
      { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 128 }) },
    ),
    runId: fc.oneof(
      { weight: 4, arbitrary: pick(known.runs) },
      { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,80}$/) },
    ),
    otherSegmentId: fc.oneof(
      { weight: 4, arbitrary: pick(known.segments) },
      {
        weight: 1,
        arbitrary: fc.stringMatching(/^(rfm|cluster|lifecycle|rule|list):[a-z0-9][a-z0-9-]{0,63}$/),
      },
    ),
    listId: fc.oneof(
      { weight: 4, arbitrary: pick(known.lists) },
      { weight: 1, arbitrary: fc.stringMatching(/^(list:)?[a-z0-9][a-z0-9-]{0,63}$/) },
    ),
    lookalikeId: fc.oneof(
      { weight: 4, arbitrary: pick(known.lookalikes) },
      { weight: 1, arbitrary: fc.stringMatching(/^(lookalike:)?[a-z0-9][a-z0-9-]{0,63}$/) },
    ),
    destinationId: fc.oneof(
      {
        weight: 4,
        arbitrary: pick(
          route.id === "deleteDestination"
            ? [
                ...known.disposableDestinations,
                ...[...(known.harvested.get("destinationId") ?? [])].filter(
                  (d) => !known.destinations.includes(d),
                ),
              ]
            : known.destinations,
        ),
      },
      { weight: 1, arbitrary: fc.stringMatching(/^dst_[a-z2-7]{20}$/) },
    ),
  }[name];
  // A parameter this file has no ids for: ids the service handed out earlier in the run, or shaped like them.
  const handedOut = [...(known.harvested.get(name) ?? [])];
  const shapedLike = fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9_-]{1,80}$/));
  const id =
    valid ??
    (handedOut.length > 0
      ? fc.oneof({ weight: 4, arbitrary: pick(handedOut) }, { weight: 1, arbitrary: shapedLike })
      : shapedLike);
  return fc.oneof({ weight: 5, arbitrary: id }, { weight: 1, arbitrary: oddString });
}

function paramsArb(route: Route): fc.Arbitrary<Record<string, string | undefined> | undefined> {
  const names = paramNames(route);
  if (names.length === 0) {
    return fc
      .option(fc.dictionary(fc.constantFrom("datasetId", "x"), oddString, { maxKeys: 2 }), { freq: 4 })
      .map((p) => p ?? undefined);
  }
  const all = fc.record(
    Object.fromEntries(names.map((n) => [n, paramArb(route, n)])) as Record<string, fc.Arbitrary<string>>,
  );
  return fc.oneof(
    { weight: 12, arbitrary: all },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.tuple(all, fc.constantFrom(...names), extraKeys).map(([p, drop, extra]) => ({
        ...Object.fromEntries(Object.keys(extra).map((k) => [k, "x"])),
        ...p,
        [drop]: undefined,
      })),
    },
  );
}

function cursorArb(): fc.Arbitrary<string> {
  const pool = fc.constantFrom(...known.cursors);
  return fc.oneof(
    { weight: 4, arbitrary: pool },
    {
      weight: 2,
      arbitrary: fc
        .tuple(pool, fc.nat(), fc.constantFrom("A", "b", "0", "-", "_", ".", "="))
        .map(([c, at, ch]) => {
          const i = at % c.length;
          return c.slice(0, i) + (c[i] === ch ? "B" : ch) + c.slice(i + 1);
        }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(pool, fc.jsonValue({ maxDepth: 2 })).map(([c, v]) => {
        const [payload = "", signature = ""] = c.split(".");
        const [scope] = JSON.parse(Buffer.from(payload, "base64url").toString()) as [string];
        return `${Buffer.from(JSON.stringify([scope, v])).toString("base64url")}.${signature}`;
      }),
    },
    { weight: 1, arbitrary: pool.map((c) => `${c}.${c}`) },
    {
      weight: 1,
      arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? "").toString("base64url")),
    },
    { weight: 1, arbitrary: oddString },
    { weight: 1, arbitrary: fc.integer({ min: 2000, max: 5000 }).map((n) => "c".repeat(n)) },
  );
}

function queryArb(route: Route): fc.Arbitrary<Record<string, string> | undefined> {
  const limit = fc.oneof(
    fc.integer({ min: -5, max: 1100 }).map(String),
    fc.constantFrom(
      "",
      "0",
      "1",
      "1.5",
      "1e2",
      "NaN",
      "Infinity",
      "-0",
      " 3",
      "0x10",
      "99999999999999999999",
      "1,2",
    ),
    oddString,
  );
  const paged = fc.record({ limit, cursor: cursorArb() }, { requiredKeys: [] });
  const noise = fc.dictionary(
    fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("limit", "cursor"), prototypeKey),
    oddString,
    {
      maxKeys: 3,
    },
  );
  const hasQuery = CONTRACTS[route.id] && "query" in CONTRACTS[route.id];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: hasQuery ? 8 : 1, arbitrary: paged },
    { weight: 1, arbitrary: fc.tuple(paged, noise).map(([p, n]) => ({ ...n, ...p })) },
  );
}

const paramNames = (route: Route) => [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);

/**
 * A cursor the route issued, sent back with the path it was issued for (read from its scope, e.g.
 * "members|t1|shop|rfm:champions"): valid, or stale once the dataset moved on, or foreign to the caller.
 */
function replayArb(route: Route) {
  const issued = known.cursorsByRoute.get(route.id) ?? [];
  if (issued.length === 0) return undefined;
  const names = paramNames(route);
  return fc
    .tuple(
      fc.constantFrom(...issued),
      fc.option(fc.integer({ min: 1, max: 5 }).map(String), { nil: undefined }),
    )
    .map(([cursor, limit]) => {
      const [scope] = JSON.parse(Buffer.from(cursor.split(".")[0] ?? "", "base64url").toString()) as [string];
      const parts = scope.split("|").slice(2);
      const params = Object.fromEntries(names.map((n, i) => [n, parts[i]]));
      return { params, query: { cursor, ...(limit === undefined ? {} : { limit }) } };
    });
}

function requestArb(route: Route) {
  const fuzzed = fc.record({ params: paramsArb(route), query: queryArb(route) });
  const replay = replayArb(route);
  const target = replay
    ? fc.oneof({ weight: 5, arbitrary: fuzzed }, { weight: 2, arbitrary: replay })
    : fuzzed;
  const rest = fc.record({
    payload: fc.oneof(
      { weight: BODIES[route.id] ? 9 : 1, arbitrary: bodyArb(route) },
      { weight: 3, arbitrary: fc.constant<Body>({}) },
    ),
    headers: headersArb,
    authorizer: authorizerArb,
    noContext: fc.oneof(
      { weight: 30, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
  });
  return fc.tuple(target, rest).map(([where, what]) => ({ ...where, ...what }));
}

// ---- setup ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  const clients = testClients();
  const table = await createTestTable(clients.dynamo, uniqueName("fuzz"));
  const bucket = await createTestBucket(clients.s3, uniqueName("fuzz"));
  // The environment a deployed API function gets, aimed at the local servers; webhook secrets in files.
  const secrets = await mkdtemp(join(tmpdir(), "fuzz-secrets-"));
  Object.assign(process.env, {
    LOCAL_SECRETS_DIR: secrets,
    TABLE_NAME: table,
    BUCKET_NAME: bucket,
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_DYNAMODB: clients.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: clients.endpoints.s3,
    AWS_ACCESS_KEY_ID: S3_SERVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_SERVER_CREDENTIALS.secretAccessKey,
    DEFAULT_TENANT: "demo",
    SCOPE_PREFIX: PREFIX,
    REQUIRE_TENANT_CLAIM: "false",
  });
  rt = (await import("../../shared/runtime")).runtime();
  handlers = {
    readApi: (await import("../../functions/read-api/handler")).handler as unknown as Handler,
    writeApi: (await import("../../functions/write-api/handler")).handler as unknown as Handler,
    lookupApi: (await import("../../functions/lookup-api/handler")).handler as unknown as Handler,
  };

  await upload(TENANT, "shop", "transactions.csv");
  for (const segmentId of known.definitions.slice(0, 4)) {
    await rt.store.putDefinition(TENANT, "shop", {
      segmentId,
      name: segmentId,
      rule: { field: "monetary", op: "gte", value: 200 },
      createdAt: "2025-10-01T00:00:00.000Z",
      updatedAt: "2025-10-01T00:00:00.000Z",
    });
  }
  await rt.store.createDataset(TENANT, "fresh", {});
  await upload(OTHER_TENANT, "theirs", "transactions.csv");

  const call = async (
    id: RouteId,
    params: Record<string, string>,
    query: Record<string, string>,
    tenant = TENANT,
  ) => {
    const route = ROUTES.find((r) => r.id === id) as Route;
    const answer = await invoke(route, eventFor(route, { params, query, authorizer: validCaller(tenant) }));
    expect(answer.status, `${id}: ${answer.text}`).toBe(200);
    harvest(id, answer.text);
    return JSON.parse(answer.text) as Record<string, unknown>;
  };
  const segments = (await call("listSegments", { datasetId: "shop" }, {})).segments as {
    id: string;
    size: number;
  }[];
  known.segments.push(...segments.map((s) => s.id), ...known.definitions);
  known.lasting.push(...segments.map((s) => s.id).filter((id) => !id.startsWith("rule:")));
  const big = segments.filter((s) => s.size > 1).map((s) => s.id);
  // Member cursors of version 1 go stale when the second upload commits version 2.
  for (const segmentId of big)
    await call("listSegmentMembers", { datasetId: "shop", segmentId }, { limit: "1" });
  await upload(TENANT, "shop", "transactions-with-bad-rows.csv");
  for (const segmentId of big) {
    await call("listSegmentMembers", { datasetId: "shop", segmentId }, { limit: "1" });
    await call("getSegmentHistory", { datasetId: "shop", segmentId }, { limit: "1" });
  }
  // A first page of the members two segments share, whose cursor the intersection route's cases replay.
  const intersections = ROUTES.find((r) => r.id === "listIntersectionMembers") as Route;
  pairs: for (const segmentId of big) {
    for (const otherSegmentId of big) {
      if (otherSegmentId === segmentId) continue;
      const params = { datasetId: "shop", segmentId, otherSegmentId };
      const answer = await invoke(
        intersections,
        eventFor(intersections, { params, query: { limit: "1" }, authorizer: validCaller() }),
      );
      expect(answer.status, answer.text).toBe(200);
      harvest("listIntersectionMembers", answer.text);
      if (known.cursorsByRoute.has("listIntersectionMembers")) break pairs;
    }
  }
  expect(known.cursorsByRoute.has("listIntersectionMembers")).toBe(true);
  const runs = await call("listRuns", { datasetId: "shop" }, { limit: "1" });
  known.runs.push(...(runs.runs as { runId: string }[]).map((r) => r.runId));
  await call("listDatasets", {}, { limit: "1" });
  await call("listRuns", { datasetId: "theirs" }, { limit: "1" }, OTHER_TENANT);
  await call("listDatasets", {}, { limit: "1" }, OTHER_TENANT);
  expect(known.cursors.length).toBeGreaterThan(5);

  const send = async (id: RouteId, params: Record<string, string>, body: unknown) => {
    const route = ROUTES.find((r) => r.id === id) as Route;
    const answer = await invoke(
      route,
      eventFor(route, {
        params,
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
        authorizer: validCaller(),
      }),
    );
    expect(answer.status, `${id}: ${answer.text}`).toBeLessThan(300);
    return JSON.parse(answer.text) as Record<string, unknown>;
  };
  await send(
    "putList",
    { datasetId: "shop", listId: "vip" },
    { name: "VIP", customerIds: ["C01", "C02", "C99"] },
  );
  await send("putList", { datasetId: "shop", listId: "spare" }, { name: "Spare", customerIds: ["C10"] });
  for (const lookalikeId of ["like-vip", "like-spare"]) {
    await send(
      "putLookalike",
      { datasetId: "shop", lookalikeId },
      { name: "Like", seed: "rfm:champions", size: { top: 5 } },
    );
  }
  const followed = [segments[0]?.id ?? "rfm:champions"];
  const destination = (kind: string, config: unknown) => ({
    name: kind,
    kind,
    segments: followed,
    [kind]: config,
  });
  // Webhooks as often as the valid bodies name them, so that a PUT keeps the destination's kind often enough.
  const kept = [
    destination("webhook", { url: "https://93.184.215.14/hooks/segments" }),
    destination("webhook", { url: "https://93.184.215.14/hooks/other" }),
    destination("s3", { bucket: "member-lists", prefix: "exports" }),
    destination("audience", { platform: "meta", bucket: "audiences.example" }),
  ];
  for (const body of kept) {
    known.destinations.push(
      (await send("createDestination", { datasetId: "shop" }, body)).destinationId as string,
    );
  }
  for (const body of kept.slice(0, 2)) {
    known.disposableDestinations.push(
      (await send("createDestination", { datasetId: "shop" }, body)).destinationId as string,
    );
  }
  // Two pipeline runs on DynamoDB Local: minutes on a machine that runs other suites; the deadline catches a hang.
}, 900_000);

// ---- properties ----------------------------------------------------------------------------------------

/** Cases per route in `npm test`: more where a body is parsed. */
const RUNS_WITH_BODY = 300;
const RUNS_WITHOUT_BODY = 100;

afterAll(() => {
  expect(dns.lookups, "host names resolved during the fuzzing").toEqual([]);
});

describe("every route, fuzzed through the real handlers on DynamoDB Local and the S3 server", () => {
  const timeout = fuzzing() ? 6 * 60 * 60_000 : 120_000;

  for (const route of ROUTES) {
    it(`${route.method} ${route.path}: never a 5xx, always a listed code in the error shape`, {
      timeout,
    }, async () => {
      const answered = new Set<string>();
      await fc.assert(
        fc.asyncProperty(requestArb(route), async ({ payload, ...rest }) => {
          const answer = await invoke(route, eventFor(route, { ...rest, ...payload }));
          const code = checkAnswer(route, answer);
          answered.add(code ?? "success");
          // Scopes (RFC 6749 §3.3): an answer past the scope check needs a grant by the rule; a grant by a
          // well-formed scope claim is never refused for want of a scope.
          if (route.scope !== null) {
            const grant = grantOf(rest.noContext ? undefined : rest.authorizer, `${PREFIX}/${route.scope}`);
            if (grant === undefined) {
              expect(
                ["UNAUTHORIZED", "FORBIDDEN"],
                `${route.id} without the scope: ${answer.text}`,
              ).toContain(code);
            } else if (grant === "scope") {
              expect(["UNAUTHORIZED", "FORBIDDEN"]).not.toContain(code);
            }
          }
          // Keys of Object.prototype in a body: never a success, and named by a reserved_key detail.
          const sent = payload.base64
            ? Buffer.from(payload.body ?? "", "base64").toString("utf8")
            : payload.body;
          if (takesBody(route) && sent !== undefined && hasPrototypeKey(sent)) {
            expect(
              answer.status,
              `${route.id} took a body with a prototype key: ${sent.slice(0, 300)}`,
            ).toBeGreaterThanOrEqual(400);
            const details = (JSON.parse(answer.text) as { error: { details: { code: string }[] } }).error
              .details;
            if (details.some((d) => d.code === "reserved_key")) answered.add("reserved_key");
          }
          const datasetId = route.path.includes("{datasetId}") ? rest.params?.datasetId : undefined;
          const tenant = actingTenant(rest.authorizer);
          if (answer.status < 300 && datasetId !== undefined && tenant !== undefined) {
            if (CREATING.includes(route.id)) own(datasetId, tenant);
            else
              expect(owners.get(datasetId)?.has(tenant), `${route.id}: ${tenant} on ${datasetId}`).toBe(true);
          }
          if (route.id === "createDataset" && answer.status === 201 && tenant !== undefined) {
            own((JSON.parse(answer.text) as { datasetId: string }).datasetId, tenant);
          }
          if (answer.status < 300 && answer.text !== "") harvest(route.id, answer.text);
        }),
        { seed: fuzzSeed(), numRuns: fuzzRuns(BODIES[route.id] ? RUNS_WITH_BODY : RUNS_WITHOUT_BODY) },
      );
      // The generators must reach the route's core, not only its input checks.
      expect(answered, `${route.id} never succeeded`).toContain("success");
      const contract = CONTRACTS[route.id] as { params?: unknown; query?: unknown; body?: unknown };
      if (contract.params || contract.query || contract.body) expect(answered).toContain("VALIDATION_FAILED");
      if (contract.body) expect(answered, `${route.id} never met a prototype key`).toContain("reserved_key");
    });
  }
});
