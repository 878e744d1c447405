/**
 * Access control over HTTP against the local service, for every route of the route table: the local
 * authorizer refuses a missing, forged, foreign, misaddressed or expired token with 401 as API Gateway's JWT
 * authorizer does; the handler refuses a token without the route's scope with 403; a token of another
 * tenant holding every scope finds none of the demo tenant's data and changes none of it; public routes
 * need no token. No refused request's body carries data.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_SCOPES, type LocalKeys, localKeys, mintToken } from "../../scripts/local/auth";
import { uploadFile } from "../../scripts/local/upload";
import { ROUTES, type RouteDef } from "../../shared/routes";
import { type LocalService, startLocalService } from "./local-service";

type Route = (typeof ROUTES)[number];
type BodyRoute = Extract<Route, { method: "POST" | "PUT" }>["id"];

const DATASET = "shop";
/** Customer ids of transactions.csv: none may appear in the body of a refused request. */
const CUSTOMER_IDS = /\bC(0[1-9]|10)\b/;

/** A valid body for every route that takes one (a new such route without one here is a type error). */
const BODIES: Record<BodyRoute, unknown> = {
  getOverlap: { segments: ["rfm:champions", "lifecycle:active"] },
  createDataset: { datasetId: DATASET },
  putSettings: { currency: "EUR" },
  putDefinition: { name: "Big spenders", rule: { field: "monetary", op: "gte", value: 500 } },
  dryRun: { name: "Big spenders", rule: { field: "monetary", op: "gte", value: 500 } },
  createUpload: { fileName: "more.csv" },
  createExport: {},
  createDestination: {
    name: "CRM",
    kind: "webhook",
    segments: ["rfm:champions"],
    webhook: { url: "http://127.0.0.1:9/hook" },
  },
  putDestination: {
    name: "CRM",
    kind: "webhook",
    segments: ["rfm:champions"],
    webhook: { url: "http://127.0.0.1:9/hook" },
  },
  rotateDestinationSecret: undefined,
  enableDestination: undefined,
  putList: { name: "Contacted", customerIds: ["C01"] },
  changeListMembers: { add: ["C02"] },
  putLookalike: { name: "Like champions", seed: "rfm:champions", size: { top: 2 } },
};

let service: LocalService;
let keys: LocalKeys;
let runId: string;

function pathOf(route: RouteDef): string {
  const values: Record<string, string> = {
    datasetId: DATASET,
    customerId: "C01",
    segmentId: route.path.includes("/definitions/") ? "rule:big-spenders" : "rfm:champions",
    runId,
    erasureId: "00000000-0000-4000-8000-000000000000",
    otherSegmentId: "lifecycle:active",
    destinationId: "dst_aaaaaaaaaaaaaaaaaaaa",
    listId: "contacted",
    lookalikeId: "like-champions",
  };
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`No value for path parameter ${name} of ${route.id}`);
    return encodeURIComponent(value);
  });
}

async function call(route: RouteDef, token: string | undefined): Promise<{ status: number; text: string }> {
  const body = (BODIES as Partial<Record<string, unknown>>)[route.id];
  const res = await fetch(`${service.api}${pathOf(route)}`, {
    method: route.method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

/**
 * A refused request answers the error and nothing else: no customer ids, no run id (unless the request
 * itself named it), no dataset data.
 */
function expectNoData(route: RouteDef, text: string) {
  expect(text, route.id).not.toMatch(CUSTOMER_IDS);
  if (!route.path.includes("{runId}")) expect(text, route.id).not.toContain(runId);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(body).length, route.id).toBe(1);
  expect(["error", "message"], route.id).toContain(Object.keys(body)[0]);
}

const protectedRoutes = ROUTES.filter((r) => r.scope !== null);
const publicRoutes = ROUTES.filter((r) => r.scope === null);

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
  keys = await localKeys(service.dataDir);
  const body = await readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"));
  const run = await uploadFile(service.api, DATASET, "transactions.csv", body, {
    waitMs: 90_000,
    token: service.token,
  });
  expect(run.status).toBe("succeeded");
  runId = run.runId;
}, 180_000);

afterAll(async () => {
  await service?.stop();
});

describe("tokens the authorizer refuses (401)", () => {
  const base = { tenant: "demo", scopes: ALL_SCOPES, ttlSeconds: 600 };
  const tokens: Record<string, () => Promise<string | undefined>> = {
    "no token": async () => undefined,
    "not a JWT": async () => "not-a-token",
    "signed by another key under this key's id": async () => {
      const { privateKey } = await generateKeyPair("RS256");
      return mintToken({ ...keys, privateKey }, base);
    },
    "wrong issuer": () => mintToken(keys, { ...base, issuer: "https://issuer.example.com/" }),
    "wrong audience": () => mintToken(keys, { ...base, audience: "another-api" }),
    expired: () => mintToken(keys, { ...base, ttlSeconds: -10 }),
  };

  for (const [name, make] of Object.entries(tokens)) {
    it(`${name}: every protected route answers 401 {"message":"Unauthorized"}`, async () => {
      const token = await make();
      for (const route of protectedRoutes) {
        const res = await call(route, token);
        expect(res.status, route.id).toBe(401);
        expect(JSON.parse(res.text), route.id).toEqual({ message: "Unauthorized" });
        expectNoData(route, res.text);
      }
    });
  }
});

describe("scopes (403)", () => {
  it("a valid token holding every scope but the route's own is refused on every route", async () => {
    for (const route of protectedRoutes) {
      const others = ALL_SCOPES.filter((s) => s !== route.scope);
      const token = await mintToken(keys, { tenant: "demo", scopes: others, ttlSeconds: 600 });
      const res = await call(route, token);
      expect(res.status, route.id).toBe(403);
      expect(JSON.parse(res.text).error.code, route.id).toBe("FORBIDDEN");
      expectNoData(route, res.text);
    }
  });
});

describe("tenants", () => {
  it("a token of another tenant with every scope finds nothing of the demo tenant's and changes nothing", async () => {
    const demo = { authorization: `Bearer ${service.token}` };
    const before = await (
      await fetch(`${service.api}/datasets/${DATASET}/segments`, { headers: demo })
    ).text();
    const beforeDataset = JSON.parse(
      await (await fetch(`${service.api}/datasets/${DATASET}`, { headers: demo })).text(),
    );
    expect(before).toContain("rfm:champions");

    const other = await mintToken(keys, { tenant: "other", scopes: ALL_SCOPES, ttlSeconds: 600 });
    // Routes that create in the caller's own tenant go last, so that the others meet no dataset at all.
    const creating = new Set<string>(["createDataset", "createUpload"]);
    const order = [
      ...protectedRoutes.filter((r) => !creating.has(r.id)),
      ...protectedRoutes.filter((r) => creating.has(r.id)),
    ];
    for (const route of order) {
      const res = await call(route, other);
      expect(res.text, route.id).not.toMatch(CUSTOMER_IDS);
      const body = JSON.parse(res.text);
      if (route.id === "listDatasets") {
        expect(res.status).toBe(200);
        expect(body.datasets).toEqual([]);
      } else if (route.id === "createDataset") {
        // The id is free in the caller's own tenant: a new, empty dataset there.
        expect(res.status).toBe(201);
        expect(body).toMatchObject({ datasetId: DATASET, current: null });
      } else if (route.id === "createUpload") {
        // Also the caller's own dataset: the presigned key lies under the caller's tenant.
        expect(res.status).toBe(201);
        expect(body.key).toMatch(new RegExp(`^uploads/other/${DATASET}/`));
        expect(JSON.stringify(body.fields)).not.toContain("uploads/demo/");
      } else {
        // getRun and getErasure look the record up under the caller's tenant and dataset directly: none there.
        expect(res.status, `${route.id}: ${res.text}`).toBe(404);
        const direct = { getRun: "RUN_NOT_FOUND", getErasure: "ERASURE_NOT_FOUND" } as Record<string, string>;
        expect(body.error.code, route.id).toBe(direct[route.id] ?? "DATASET_NOT_FOUND");
        expectNoData(route, res.text);
      }
    }

    const after = await (
      await fetch(`${service.api}/datasets/${DATASET}/segments`, { headers: demo })
    ).text();
    expect(after).toBe(before);
    const afterDataset = JSON.parse(
      await (await fetch(`${service.api}/datasets/${DATASET}`, { headers: demo })).text(),
    );
    expect(afterDataset.settings).toEqual(beforeDataset.settings);
    expect(afterDataset.current).toEqual(beforeDataset.current);
    const definitions = await fetch(`${service.api}/datasets/${DATASET}/definitions`, { headers: demo });
    expect(((await definitions.json()) as { definitions: unknown[] }).definitions).toEqual([]);
  });
});

describe("public routes", () => {
  it("answer without a token, and ignore a bad one", async () => {
    expect(publicRoutes.map((r) => r.id)).toContain("health");
    for (const route of publicRoutes) {
      expect((await call(route, undefined)).status, route.id).toBe(200);
      expect((await call(route, "not-a-token")).status, route.id).toBe(200);
    }
  });

  it("the JWKS the tokens verify against is served", async () => {
    const res = await fetch(`${service.api}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const set = (await res.json()) as { keys: Array<{ kid: string; kty: string; d?: string }> };
    expect(set.keys).toEqual([expect.objectContaining({ kid: keys.kid, kty: "RSA" })]);
    expect(set.keys[0]?.d).toBeUndefined();
  });
});

// Last: these calls change the demo tenant's dataset (settings, definitions) and start recomputes.
describe("the right scope", () => {
  it("a valid token holding only the route's scope gets through on every route", async () => {
    for (const route of protectedRoutes) {
      const token = await mintToken(keys, { tenant: "demo", scopes: [route.scope], ttlSeconds: 600 });
      const res = await call(route, token);
      expect([401, 403], `${route.id}: ${res.text}`).not.toContain(res.status);
      expect(res.status, `${route.id}: ${res.text}`).toBeLessThan(500);
    }
  });
});
