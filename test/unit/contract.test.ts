/**
 * The contract against the route cores: every route, served by its real core over an in-memory store, answers
 * a status its contract lists with a body that its zod answer schema and the OpenAPI document's JSON Schema
 * both accept, with no field the contract leaves out; and the errors it answers carry codes and statuses its
 * contract lists.
 */
import { readdirSync, readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020";
import { beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { CONTRACTS, ERROR_STATUS, type ErrorCode, errorsOf } from "../../shared/api/contract";
import { datasetRoutes, MAX_DEFINITIONS } from "../../shared/api/datasets";
import { destinationRoutes } from "../../shared/api/destinations";
import { docsRoutes } from "../../shared/api/docs";
import { exportRoutes } from "../../shared/api/exports";
import { historyRoutes } from "../../shared/api/history";
import { listRoutes } from "../../shared/api/lists";
import { lookalikeRoutes } from "../../shared/api/lookalikes";
import { type LookupStore, lookupRoutes } from "../../shared/api/lookup";
import { memberRoutes } from "../../shared/api/members";
import { buildOpenApiDocument } from "../../shared/api/openapi";
import { overlapRoutes } from "../../shared/api/overlap";
import { readRoutes } from "../../shared/api/read";
import { writeRoutes } from "../../shared/api/write";
import { AggregateState } from "../../shared/engine";
import { computeSegments } from "../../shared/engine/compute";
import { ingestTransactions } from "../../shared/engine/ingest";
import { profilesOf } from "../../shared/engine/profiles";
import { AppError } from "../../shared/errors";
import { type ApiRequest, type ApiResult, errorResult, type RouteHandler } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import {
  type CustomerView,
  type DatasetMeta,
  datasetMetaSchema,
  type ErasureRecord,
  type RunRecord,
  runRecordSchema,
  type SegmentDefinitionRecord,
} from "../../shared/model";
import { encodeMembership } from "../../shared/pipeline/membership";
import { encodeOutputs, type Outputs } from "../../shared/pipeline/outputs";
import type { BlobStore, DatasetStore, Page, ServiceEvent } from "../../shared/pipeline/ports";
import { encodeProfiles } from "../../shared/pipeline/profiles";
import { ROUTES, type RouteId } from "../../shared/routes";
import { MemoryDestinationStore, MemorySecretStore } from "../support/memory-destinations";
import { MemoryListStore } from "../support/memory-lists";
import { MemoryLookalikeStore } from "../support/memory-lookalikes";
import { textSource } from "./engine/byte-source";

const TENANT = "t1";
const segment = (id: string, family: string, extra: Record<string, unknown> = {}) => ({
  id,
  family,
  name: id,
  description: `About ${id}`,
  size: 1,
  share: 0.5,
  revenue: 300,
  revenueShare: 0.75,
  averageOrderValue: 100,
  ...extra,
});

const ready: DatasetMeta = datasetMetaSchema.parse({
  tenantId: TENANT,
  datasetId: "shop",
  createdAt: "2025-01-01T00:00:00.000Z",
  settings: { currency: "EUR", lifecycle: { newDays: 20 } },
  current: {
    version: 3,
    runId: "run-3",
    asOf: "2025-10-01",
    completedAt: "2025-10-01T01:00:00.000Z",
    customerCount: 2,
    orderCount: 5,
    segments: [
      segment("rfm:champions", "rfm", { meanClv: 420.5, meanProbabilityAlive: 0.9 }),
      segment("cluster:c1", "cluster", { meanClv: null, meanProbabilityAlive: null }),
      segment("lifecycle:active", "lifecycle"),
      segment("rule:big", "rule"),
    ],
    clusters: {
      k: 1,
      inertia: 1.5,
      featureNames: ["recency", "frequency"],
      ids: ["cluster:c1"],
      descriptions: ["Recent and frequent"],
      centroids: [[0.1, 0.2]],
      nextId: 2,
    },
    value: {
      timeUnit: "day",
      horizonDays: 365,
      annualDiscountRate: 0.1,
      bgNbd: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.4 },
      gammaGamma: { p: 6.25, q: 3.74, gamma: 15.44 },
      logLikelihoods: { bgNbd: -9582.4, gammaGamma: -4000.1 },
      converged: { bgNbd: true, gammaGamma: true },
      customers: 2,
      repeatCustomers: 1,
      selectedModel: "paretoNbd",
      selection: "holdout",
      models: {
        bgNbd: {
          params: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.4 },
          logLikelihood: -9582.4,
          converged: true,
          atBoundary: [],
        },
        paretoNbd: {
          params: { r: 0.55, alpha: 10.58, s: 0.61, beta: 11.67 },
          logLikelihood: -9595,
          converged: true,
          atBoundary: [],
        },
      },
      validation: {
        calibrationEnd: "2025-07-03",
        asOf: "2025-10-01",
        holdoutDays: 90,
        customers: 2,
        actualRepeatPurchases: 3,
        models: {
          bgNbd: {
            fit: {
              params: { r: 0.2, alpha: 4, a: 0.7, b: 2 },
              logLikelihood: -10,
              converged: true,
              atBoundary: [],
            },
            predictedRepeatPurchases: 2.2,
            mae: 0.9,
            rmse: 1.1,
          },
          paretoNbd: {
            fit: {
              params: { r: 0.5, alpha: 10, s: 0.6, beta: 11 },
              logLikelihood: -11,
              converged: true,
              atBoundary: ["s"],
            },
            predictedRepeatPurchases: 2.6,
            mae: 0.7,
            rmse: 1,
          },
        },
        metric: "mae",
        selected: "paretoNbd",
        conditionalExpectations: [
          {
            frequency: 0,
            label: "0",
            customers: 1,
            meanActual: 1,
            meanPredicted: { bgNbd: 0.5, paretoNbd: 0.6 },
          },
          {
            frequency: 7,
            label: "7+",
            customers: 1,
            meanActual: 2,
            meanPredicted: { bgNbd: 1.7, paretoNbd: 2 },
          },
        ],
      },
    },
  },
});
const fresh: DatasetMeta = datasetMetaSchema.parse({
  tenantId: TENANT,
  datasetId: "fresh",
  createdAt: "2025-02-01T00:00:00.000Z",
});

const views: Record<string, CustomerView> = {
  c1: {
    firstPurchase: "2025-06-01",
    lastPurchase: "2025-09-20",
    frequency: 3,
    monetary: 230,
    r: 5,
    f: 4,
    m: 4,
    rfm: "544",
    lifecycle: "lifecycle:active",
    cluster: "cluster:c1",
    probabilityAlive: 0.9,
    expectedPurchases: 1.2,
    clv: 420.5,
    segments: ["rfm:champions", "cluster:c1", "lifecycle:active", "rule:big"],
  },
  // Without lifecycle, cluster or predictions: the answer's nullable parts.
  c2: {
    firstPurchase: "2025-09-25",
    lastPurchase: "2025-09-25",
    frequency: 1,
    monetary: 500,
    r: 5,
    f: 1,
    m: 5,
    rfm: "515",
    segments: ["rfm:champions"],
  },
};

const runs: RunRecord[] = [
  runRecordSchema.parse({
    tenantId: TENANT,
    datasetId: "shop",
    runId: "run-3",
    trigger: "upload",
    status: "succeeded",
    uploadId: "u-1",
    startedAt: "2025-10-01T00:59:00.000Z",
    finishedAt: "2025-10-01T01:00:00.000Z",
    version: 3,
    asOf: "2025-10-01",
    counts: { rowsRead: 5, rowsAccepted: 5, rowsRejected: 0, customers: 2, orders: 5 },
    timingsMs: { ingest: 12, compute: 30 },
    reportKey: "reports/run-3.json",
    segments: ready.current?.segments,
  }),
  runRecordSchema.parse({
    tenantId: TENANT,
    datasetId: "shop",
    runId: "run-2",
    trigger: "refresh",
    status: "failed",
    startedAt: "2025-09-30T00:00:00.000Z",
    finishedAt: "2025-09-30T00:00:01.000Z",
    error: { code: "STATE_CORRUPT", message: "The state cannot be read" },
  }),
];

const bigSpenders: SegmentDefinitionRecord = {
  segmentId: "rule:big",
  name: "Big spenders",
  description: "Spent 200 or more",
  rule: { field: "monetary", op: "gte", value: 200 },
  createdAt: "2025-09-01T00:00:00.000Z",
  updatedAt: "2025-09-02T00:00:00.000Z",
};

/** The store the read, dataset and write cores need, in memory; anything else is not called by them. */
function memoryStore() {
  const datasets = new Map<string, DatasetMeta>([
    ["shop", structuredClone(ready)],
    ["fresh", structuredClone(fresh)],
  ]);
  const definitions = new Map<string, Map<string, SegmentDefinitionRecord>>([
    ["shop", new Map([["rule:big", structuredClone(bigSpenders)]])],
    ["fresh", new Map()],
  ]);
  const erasures = new Map<string, ErasureRecord>();
  const store: Partial<DatasetStore> = {
    getDataset: async (_t, id) => structuredClone(datasets.get(id)),
    ensureErasureSalt: async (_t, id) => (datasets.has(id) ? "c2FsdA==" : undefined),
    putErasure: async (e) => void erasures.set(e.erasureId, structuredClone(e)),
    getErasure: async (_t, _d, erasureId) => structuredClone(erasures.get(erasureId)),
    ensureDataset: async (t, id) => {
      const meta =
        datasets.get(id) ??
        datasetMetaSchema.parse({ tenantId: t, datasetId: id, createdAt: "2025-10-02T00:00:00.000Z" });
      datasets.set(id, meta);
      return meta;
    },
    createDataset: async (t, id, settings) => {
      if (datasets.has(id)) return undefined;
      const meta = datasetMetaSchema.parse({
        tenantId: t,
        datasetId: id,
        createdAt: "2025-10-02T00:00:00.000Z",
        settings,
      });
      datasets.set(id, meta);
      definitions.set(id, new Map());
      return meta;
    },
    listTenantDatasets: async (): Promise<Page<string>> => ({
      items: [...datasets.keys()].sort(),
      next: "shop",
    }),
    putSettings: async (_t, id, settings) => {
      const meta = datasets.get(id);
      if (!meta) return false;
      meta.settings = settings;
      return true;
    },
    putDefinition: async (_t, id, d) => void definitions.get(id)?.set(d.segmentId, d),
    getDefinition: async (_t, id, segmentId) => definitions.get(id)?.get(segmentId),
    listDefinitions: async (_t, id) => [...(definitions.get(id)?.values() ?? [])],
    deleteDefinition: async (_t, id, segmentId) => definitions.get(id)?.delete(segmentId) ?? false,
    putUpload: async () => {},
    getRun: async (_t, _d, runId) => runs.find((r) => r.runId === runId),
    listRuns: async (): Promise<Page<RunRecord>> => ({ items: runs, next: "run-2" }),
  };
  // The lookup routes' reads of the same datasets and views, as items.
  const lookup: LookupStore = {
    getDatasetItem: async (_t, id) => structuredClone(datasets.get(id)),
    getCustomerItems: async (_t, id, customerId) => {
      const meta = structuredClone(datasets.get(id));
      return { meta, view: meta?.current ? structuredClone(views[customerId]) : undefined };
    },
  };
  return { store: store as DatasetStore, lookup, definitions };
}

let aggregate: Uint8Array;
let profiles: Uint8Array;
beforeAll(async () => {
  const state = new AggregateState();
  const csv = readFileSync(new URL("../fixtures/e2e/transactions.csv", import.meta.url), "utf8");
  await ingestTransactions(textSource(csv), { format: "csv", onRowError: () => {} }, state);
  aggregate = state.serialize();
  // Segment profiles of the fixture (k = 2, so that some cells show), as a run writes them.
  const result = computeSegments(state, { asOf: "2025-10-01", clusters: false, value: false });
  profiles = encodeProfiles(1, profilesOf(result, { k: 2 }));
});

const cursors = new CursorCodec("contract-test");

function handlers(options: { blobs?: boolean } = {}) {
  const { store, lookup, definitions } = memoryStore();
  const published: ServiceEvent[] = [];
  const outputs: Outputs = new Map(Object.entries(views).map(([id, v]) => [id, JSON.stringify(v)]));
  const membership = encodeMembership(
    outputs,
    (ready.current?.segments ?? []).map((s) => s.id),
  );
  const blobs: BlobStore = {
    get: async (key) =>
      key.endsWith("outputs.ndjson.gz")
        ? encodeOutputs(outputs)
        : key.endsWith("membership.bin")
          ? membership
          : key.endsWith("profiles.json.gz")
            ? profiles
            : aggregate,
    stream: async () => undefined,
    streamRange: async () => undefined,
    size: async (key) => (key.endsWith("membership.bin") ? membership.byteLength : undefined),
    put: async () => {},
    putStream: async () => "etag",
    list: async () => [],
    delete: async () => {},
    presignGet: async (key) => `https://bucket.example/${key}?X-Amz-Signature=s`,
  };
  const deps = {
    store,
    cursors,
    events: { publish: async (events: ServiceEvent[]) => void published.push(...events) },
    signer: {
      presignPost: async (key: string) => ({ url: "https://bucket.example/", fields: { key, policy: "p" } }),
    },
    ...(options.blobs === false ? {} : { blobs }),
    now: () => new Date("2025-10-02T12:00:00.000Z"),
    destinations: new MemoryDestinationStore(),
    secrets: new MemorySecretStore(),
    deliveryQueue: { notify: async () => {} },
    allowLoopbackWebhooks: true,
    lists: new MemoryListStore(),
    lookalikes: new MemoryLookalikeStore(),
    history: {
      list: async () => ({
        items: [
          {
            version: 3,
            runId: "run-3",
            asOf: "2025-10-01",
            completedAt: "2025-10-01T12:00:00.000Z",
            entered: ["rfm:champions"],
            left: ["rule:gone"],
          },
        ],
        next: 3,
      }),
    },
  };
  const all: Partial<Record<RouteId, RouteHandler>> = {
    ...readRoutes(deps),
    ...historyRoutes(deps),
    ...datasetRoutes(deps),
    ...writeRoutes(deps),
    ...exportRoutes(deps),
    ...overlapRoutes(deps),
    ...destinationRoutes({ ...deps, blobs }),
    ...listRoutes(deps),
    ...lookalikeRoutes(deps),
    ...lookupRoutes({ store: lookup }),
    ...memberRoutes({
      store,
      cursors,
      members: {
        list: async (): Promise<Page<string>> => ({ items: ["c1"], next: "c1" }),
        all: async function* () {},
      },
    }),
    ...docsRoutes(),
  };
  const call = (routeId: RouteId, req: Partial<ApiRequest> = {}): Promise<ApiResult> => {
    const handle = all[routeId];
    if (!handle) throw new Error(`no core for ${routeId}`);
    return handle({
      routeId,
      params: {},
      query: {},
      body: undefined,
      tenantId: TENANT,
      requestId: "r",
      ...req,
    });
  };
  return { call, definitions };
}

// biome-ignore lint/suspicious/noExplicitAny: the document is walked by path, as JSON
const doc = buildOpenApiDocument() as Record<string, any>;
const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
function documentedAnswer(routeId: RouteId, status: number) {
  const route = ROUTES.find((r) => r.id === routeId);
  if (!route) throw new Error(routeId);
  const schema =
    doc.paths[route.path][route.method.toLowerCase()].responses[String(status)]?.content?.["application/json"]
      ?.schema;
  const rewrite = (v: unknown): unknown =>
    JSON.parse(JSON.stringify(v).replaceAll("#/components/schemas/", "#/$defs/"));
  return ajv.compile({ ...(rewrite(schema) as object), $defs: rewrite(doc.components.schemas) });
}

const answered = new Set<RouteId>();

/** Checks a success answer against the contract and the document. */
function expectConforms(routeId: RouteId, result: ApiResult) {
  const responses = CONTRACTS[routeId].responses as Record<number, z.ZodType | null>;
  expect(Object.keys(responses), `${routeId} answered ${result.status}`).toContain(String(result.status));
  const schema = responses[result.status];
  if (schema === null || schema === undefined) {
    expect(result.body).toBeUndefined();
  } else {
    const wire = JSON.parse(JSON.stringify(result.body));
    const parsed = schema.safeParse(wire);
    expect(parsed.success, `${routeId}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    // zod drops fields it does not know: equality means the contract names every field.
    expect(parsed.data, routeId).toEqual(wire);
    const validate = documentedAnswer(routeId, result.status);
    expect(validate(wire), `${routeId}: ${JSON.stringify(validate.errors)}`).toBe(true);
  }
  answered.add(routeId);
}

async function expectError(routeId: RouteId, promise: Promise<ApiResult>, code: ErrorCode) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${routeId} should fail with ${code}`).toBeInstanceOf(AppError);
  const result = errorResult(error);
  const body = result.body as { error: { code: string } };
  expect(body.error.code).toBe(code);
  expect(errorsOf(routeId), routeId).toContain(code);
  expect(result.status).toBe(ERROR_STATUS[code]);
  const validate = documentedAnswer(routeId, result.status);
  expect(validate(JSON.parse(JSON.stringify(body))), `${routeId}: ${JSON.stringify(validate.errors)}`).toBe(
    true,
  );
}

describe("answers of the route cores", () => {
  it("match the contract and the document on every route", async () => {
    const { call } = handlers();
    const shop = { datasetId: "shop" };
    expectConforms("health", await call("health"));
    expectConforms("getOpenApi", await call("getOpenApi"));
    expectConforms(
      "createDataset",
      await call("createDataset", { body: { datasetId: "new-1", settings: { currency: "USD" } } }),
    );
    expectConforms("listDatasets", await call("listDatasets", { query: { limit: "5" } }));
    expectConforms("getDataset", await call("getDataset", { params: shop }));
    expectConforms("getDataset", await call("getDataset", { params: { datasetId: "fresh" } }));
    expectConforms(
      "putSettings",
      await call("putSettings", { params: shop, body: { scheduledRefresh: false } }),
    );
    expectConforms("listDefinitions", await call("listDefinitions", { params: shop }));
    expectConforms(
      "getDefinition",
      await call("getDefinition", { params: { ...shop, segmentId: "rule:big" } }),
    );
    const rule = {
      name: "Loyal",
      rule: {
        and: [
          { field: "frequency", op: "gte", value: 2 },
          { field: "last_purchase", op: "after", value: { days_ago: 90 } },
        ],
      },
    };
    const created = await call("putDefinition", { params: { ...shop, segmentId: "rule:loyal" }, body: rule });
    expect(created.status).toBe(201);
    expectConforms("putDefinition", created);
    const replaced = await call("putDefinition", {
      params: { ...shop, segmentId: "rule:loyal" },
      body: rule,
    });
    expect(replaced.status).toBe(200);
    expectConforms("putDefinition", replaced);
    expectConforms(
      "deleteDefinition",
      await call("deleteDefinition", { params: { ...shop, segmentId: "rule:loyal" } }),
    );
    expectConforms(
      "dryRun",
      await call("dryRun", {
        params: shop,
        body: { name: "Try", rule: { field: "monetary", op: "gte", value: 100 } },
      }),
    );
    expectConforms(
      "createUpload",
      await call("createUpload", { params: shop, body: { fileName: "orders.csv" } }),
    );
    expectConforms("getCustomer", await call("getCustomer", { params: { ...shop, customerId: "c1" } }));
    expectConforms("getCustomer", await call("getCustomer", { params: { ...shop, customerId: "c2" } }));
    expectConforms(
      "getCustomerHistory",
      await call("getCustomerHistory", { params: { ...shop, customerId: "c1" }, query: { limit: "1" } }),
    );
    const erasure = await call("eraseCustomer", { params: { ...shop, customerId: "c2" } });
    expectConforms("eraseCustomer", erasure);
    expectConforms(
      "getErasure",
      await call("getErasure", {
        params: { ...shop, erasureId: (erasure.body as { erasureId: string }).erasureId },
      }),
    );
    expectConforms("getModel", await call("getModel", { params: shop }));
    expectConforms("listSegments", await call("listSegments", { params: shop }));
    expectConforms(
      "createExport",
      await call("createExport", {
        params: { ...shop, segmentId: "rfm:champions" },
        body: { columns: ["customer_id", "monetary"] },
      }),
    );
    expectConforms("getSegment", await call("getSegment", { params: { ...shop, segmentId: "rule:big" } }));
    const champions = await call("getSegment", { params: { ...shop, segmentId: "rfm:champions" } });
    expectConforms("getSegment", champions);
    expect((champions.body as { liftProfile: { segmentId: string } | null }).liftProfile?.segmentId).toBe(
      "rfm:champions",
    );
    expectConforms(
      "getSegmentHistory",
      await call("getSegmentHistory", { params: { ...shop, segmentId: "rfm:champions" } }),
    );
    expectConforms(
      "listSegmentMembers",
      await call("listSegmentMembers", {
        params: { ...shop, segmentId: "rfm:champions" },
        query: { limit: "1" },
      }),
    );
    const overlap = await call("getOverlap", {
      params: shop,
      body: { segments: ["rfm:champions", "rule:big", "cluster:c1"] },
    });
    expectConforms("getOverlap", overlap);
    // c1 is in all three, c2 only in rfm:champions: 2 of 2 champions, 1 of 1 big spender.
    expect((overlap.body as { pairs: unknown[] }).pairs[0]).toEqual({
      a: "rfm:champions",
      b: "rule:big",
      count: 1,
      union: 2,
      shareOfA: 0.5,
      shareOfB: 1,
      jaccard: 0.5,
    });
    expectConforms(
      "listIntersectionMembers",
      await call("listIntersectionMembers", {
        params: { ...shop, segmentId: "rfm:champions", otherSegmentId: "rule:big" },
        query: { limit: "1" },
      }),
    );
    const webhook = await call("createDestination", {
      params: shop,
      body: {
        name: "CRM",
        kind: "webhook",
        segments: ["rfm:champions", "rule:big"],
        webhook: { url: "http://127.0.0.1:8080/hook" },
      },
    });
    expectConforms("createDestination", webhook);
    expect((webhook.body as { secret: string }).secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const files = await call("createDestination", {
      params: shop,
      body: { name: "Warehouse", kind: "s3", segments: ["rfm:champions"], s3: { bucket: "warehouse-in" } },
    });
    expectConforms("createDestination", files);
    const dst = { ...shop, destinationId: (webhook.body as { destinationId: string }).destinationId };
    expectConforms("listDestinations", await call("listDestinations", { params: shop }));
    expectConforms("getDestination", await call("getDestination", { params: dst }));
    expectConforms(
      "putDestination",
      await call("putDestination", {
        params: dst,
        body: {
          name: "CRM 2",
          kind: "webhook",
          segments: ["rfm:champions"],
          webhook: { url: "http://127.0.0.1:8081/hook" },
        },
      }),
    );
    expectConforms("rotateDestinationSecret", await call("rotateDestinationSecret", { params: dst }));
    expectConforms("enableDestination", await call("enableDestination", { params: dst }));
    expectConforms(
      "listDestinationDeliveries",
      await call("listDestinationDeliveries", { params: dst, query: { limit: "5" } }),
    );
    expectConforms("deleteDestination", await call("deleteDestination", { params: dst }));
    const list = { ...shop, listId: "contacted" };
    const newList = await call("putList", {
      params: list,
      body: { name: "Contacted", customerIds: ["C1", "C2"] },
    });
    expectConforms("putList", newList);
    expect(newList.status).toBe(201);
    expectConforms("putList", await call("putList", { params: list, body: { name: "Contacted" } }));
    expectConforms(
      "changeListMembers",
      await call("changeListMembers", { params: list, body: { add: ["C3"] } }),
    );
    expectConforms("listLists", await call("listLists", { params: shop }));
    expectConforms("getList", await call("getList", { params: list }));
    expectConforms("deleteList", await call("deleteList", { params: list }));
    const lookalike = { ...shop, lookalikeId: "like-champions" };
    const newLookalike = await call("putLookalike", {
      params: lookalike,
      body: { name: "Like champions", seed: "rfm:champions", size: { percent: 5 } },
    });
    expectConforms("putLookalike", newLookalike);
    expect(newLookalike.status).toBe(201);
    expectConforms(
      "putLookalike",
      await call("putLookalike", {
        params: lookalike,
        body: { name: "Like champions", seed: "rfm:champions", size: { top: 10 }, attributes: ["country"] },
      }),
    );
    expectConforms("listLookalikes", await call("listLookalikes", { params: shop }));
    expectConforms("getLookalike", await call("getLookalike", { params: lookalike }));
    expectConforms("deleteLookalike", await call("deleteLookalike", { params: lookalike }));
    expectConforms("listRuns", await call("listRuns", { params: shop }));
    expectConforms("getRun", await call("getRun", { params: { ...shop, runId: "run-3" } }));
    expectConforms("getRun", await call("getRun", { params: { ...shop, runId: "run-2" } }));

    // A route added to the table must be added here too.
    expect([...answered].sort()).toEqual(ROUTES.map((r) => r.id).sort());
  });
});

describe("errors of the route cores", () => {
  it("carry codes and statuses the contract lists", async () => {
    const { call, definitions } = handlers();
    const shop = { datasetId: "shop" };
    const missing = { datasetId: "nope" };
    await expectError("getDataset", call("getDataset", { params: missing }), "DATASET_NOT_FOUND");
    await expectError("putSettings", call("putSettings", { params: missing, body: {} }), "DATASET_NOT_FOUND");
    await expectError(
      "createDataset",
      call("createDataset", { body: { datasetId: "shop" } }),
      "DATASET_EXISTS",
    );
    await expectError("listDatasets", call("listDatasets", { query: { cursor: "forged" } }), "BAD_CURSOR");
    await expectError(
      "getDefinition",
      call("getDefinition", { params: { ...shop, segmentId: "rule:none" } }),
      "DEFINITION_NOT_FOUND",
    );
    await expectError(
      "deleteDefinition",
      call("deleteDefinition", { params: { ...shop, segmentId: "rule:none" } }),
      "DEFINITION_NOT_FOUND",
    );
    await expectError("listDefinitions", call("listDefinitions", { params: missing }), "DATASET_NOT_FOUND");
    const full = definitions.get("shop");
    for (let i = full?.size ?? 0; i < MAX_DEFINITIONS; i++)
      full?.set(`rule:r${i}`, { ...bigSpenders, segmentId: `rule:r${i}` });
    await expectError(
      "putDefinition",
      call("putDefinition", {
        params: { ...shop, segmentId: "rule:one-more" },
        body: { name: "x", rule: bigSpenders.rule },
      }),
      "TOO_MANY_DEFINITIONS",
    );
    const body = { name: "Try", rule: bigSpenders.rule };
    await expectError(
      "dryRun",
      call("dryRun", { params: { datasetId: "fresh" }, body }),
      "DATASET_NOT_READY",
    );
    await expectError(
      "dryRun",
      handlers({ blobs: false }).call("dryRun", { params: shop, body }),
      "STATE_UNAVAILABLE",
    );
    await expectError(
      "getCustomer",
      call("getCustomer", { params: { ...shop, customerId: "c9" } }),
      "CUSTOMER_NOT_FOUND",
    );
    await expectError(
      "getCustomer",
      call("getCustomer", { params: { datasetId: "fresh", customerId: "c1" } }),
      "DATASET_NOT_READY",
    );
    await expectError("listSegments", call("listSegments", { params: missing }), "DATASET_NOT_FOUND");
    await expectError("getModel", call("getModel", { params: missing }), "DATASET_NOT_FOUND");
    await expectError("getModel", call("getModel", { params: { datasetId: "fresh" } }), "DATASET_NOT_READY");
    await expectError(
      "getSegment",
      call("getSegment", { params: { ...shop, segmentId: "rfm:nobody" } }),
      "SEGMENT_NOT_FOUND",
    );
    await expectError(
      "getSegmentHistory",
      call("getSegmentHistory", { params: { ...missing, segmentId: "rfm:champions" } }),
      "DATASET_NOT_FOUND",
    );
    const members = { ...shop, segmentId: "rfm:champions" };
    await expectError(
      "listSegmentMembers",
      call("listSegmentMembers", { params: members, query: { cursor: "x.y" } }),
      "BAD_CURSOR",
    );
    const stale = cursors.encode(`members|${TENANT}|shop|rfm:champions`, { v: 2, after: "c1" });
    await expectError(
      "listSegmentMembers",
      call("listSegmentMembers", { params: members, query: { cursor: stale } }),
      "CURSOR_STALE",
    );
    await expectError(
      "getOverlap",
      call("getOverlap", { params: shop, body: { segments: ["rfm:champions", "rfm:nobody"] } }),
      "UNKNOWN_SEGMENT",
    );
    await expectError(
      "getOverlap",
      call("getOverlap", { params: { datasetId: "fresh" }, body: { segments: ["rfm:a", "rfm:b"] } }),
      "DATASET_NOT_READY",
    );
    await expectError(
      "getOverlap",
      handlers({ blobs: false }).call("getOverlap", {
        params: shop,
        body: { segments: ["rfm:champions", "rule:big"] },
      }),
      "OVERLAP_UNAVAILABLE",
    );
    const pair = { ...shop, segmentId: "rfm:champions", otherSegmentId: "rfm:nobody" };
    await expectError(
      "listIntersectionMembers",
      call("listIntersectionMembers", { params: pair }),
      "SEGMENT_NOT_FOUND",
    );
    const both = { ...pair, otherSegmentId: "rule:big" };
    await expectError(
      "listIntersectionMembers",
      call("listIntersectionMembers", { params: both, query: { cursor: "x.y" } }),
      "BAD_CURSOR",
    );
    const staleBoth = cursors.encode(`intersection|${TENANT}|shop|rfm:champions|rule:big`, {
      v: 2,
      after: "c1",
    });
    await expectError(
      "listIntersectionMembers",
      call("listIntersectionMembers", { params: both, query: { cursor: staleBoth } }),
      "CURSOR_STALE",
    );
    await expectError("listRuns", call("listRuns", { params: missing }), "DATASET_NOT_FOUND");
    await expectError("getRun", call("getRun", { params: { ...shop, runId: "run-9" } }), "RUN_NOT_FOUND");
    await expectError(
      "eraseCustomer",
      call("eraseCustomer", { params: { ...missing, customerId: "c1" } }),
      "DATASET_NOT_FOUND",
    );
    await expectError(
      "getErasure",
      call("getErasure", { params: { ...shop, erasureId: "00000000-0000-4000-8000-000000000000" } }),
      "ERASURE_NOT_FOUND",
    );
  });

  it("answer VALIDATION_FAILED for bad input on every route that takes any", async () => {
    const { call } = handlers();
    for (const route of ROUTES) {
      const contract = CONTRACTS[route.id] as { params?: unknown; query?: unknown; body?: unknown };
      if (!contract.params && !contract.query && !contract.body) continue;
      const bad: Partial<ApiRequest> = contract.params
        ? { params: { datasetId: "bad id!", segmentId: "x", customerId: "", runId: "!" } }
        : contract.body
          ? { body: { unexpected: true } }
          : { query: { limit: "0" } };
      await expectError(route.id, call(route.id, bad), "VALIDATION_FAILED");
    }
  });
});

describe("error codes", () => {
  it("lists with its status every code the API and HTTP sources throw", () => {
    const statusOf = {
      NotFoundError: 404,
      ConflictError: 409,
      BadRequestError: 400,
      ForbiddenError: 403,
    } as const;
    const thrown = new Map<string, number>([["VALIDATION_FAILED", 400]]);
    const sources = ["../../shared/api/", "../../shared/http/"].flatMap((dir) =>
      readdirSync(new URL(dir, import.meta.url))
        .filter((f) => f.endsWith(".ts"))
        .map((f) => new URL(`${dir}${f}`, import.meta.url)),
    );
    for (const file of [...sources, new URL("../../shared/errors.ts", import.meta.url)]) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(
        /new (NotFoundError|ConflictError|BadRequestError|ForbiddenError)\(\s*"([A-Z_0-9]+)"/g,
      )) {
        thrown.set(m[2] ?? "", statusOf[m[1] as keyof typeof statusOf]);
      }
      for (const m of text.matchAll(/super\((\d{3}),\s*"([A-Z_0-9]+)"/g))
        thrown.set(m[2] ?? "", Number(m[1]));
    }
    // Answered only for a route key missing from the table, which API Gateway never forwards.
    thrown.delete("ROUTE_NOT_FOUND");
    expect(thrown.size).toBeGreaterThan(15);
    expect(Object.fromEntries([...thrown].sort())).toEqual(
      Object.fromEntries(
        Object.entries(ERROR_STATUS)
          .filter(([code]) => code !== "INTERNAL")
          .sort(),
      ),
    );
  });
});
