/**
 * The lookup routes' reads (shared/api/lookup.ts) over a store that counts them: a warm function reads the
 * whole META item once per committed version and afterwards only the reference that names the version
 * (`current.version` and `current.runId`), and any other reference, a newer commit or another run's, is read
 * whole again before it answers, so a new version is served from the first request that sees it. And every
 * field of a stored view reaches the answer as on the read path (shared/api/read.ts parses the view with
 * customerViewSchema), including fields added to the view after this test was written.
 */
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { customerAnswer } from "../../shared/api/customer-answer";
import { type LookupStore, lookupRoutes, parseView } from "../../shared/api/lookup";
import type { ApiRequest } from "../../shared/http/api";
import { customerViewSchema } from "../../shared/model";
import type { Item, MetaPart } from "../../shared/store/lookup";

const TENANT = "acme";
const DATASET = "shop";

function version(n: number, runId: string, championsName = "Champions") {
  return {
    version: n,
    runId,
    asOf: "2025-10-01",
    completedAt: "2025-10-01T00:05:00.000Z",
    segments: [
      { id: "rfm:champions", family: "rfm", name: championsName, size: 2 },
      { id: "lifecycle:active", family: "lifecycle", name: "Active", size: 2 },
    ],
    value: { horizonDays: 365, selectedModel: "bgNbd" },
  };
}

const VIEW = {
  firstPurchase: "2025-01-02",
  lastPurchase: "2025-09-20",
  frequency: 3,
  monetary: 230,
  r: 5,
  f: 4,
  m: 4,
  rfm: "544",
  lifecycle: "lifecycle:active",
  segments: ["rfm:champions", "lifecycle:active"],
};

/** A table of one dataset in memory, answering as DynamoLookupStore does, with every read recorded. */
class CountingStore implements LookupStore {
  meta: Item | undefined = { pk: "T#acme#D#shop", sk: "META", settings: {}, current: version(1, "r1") };
  views = new Map<string, unknown>([["C01", VIEW]]);
  reads: string[] = [];

  private metaAs(part: MetaPart): Item | undefined {
    if (!this.meta || part === "whole") return this.meta;
    const current = this.meta.current as { version: number; runId: string } | undefined;
    return {
      pk: this.meta.pk,
      ...(current ? { current: { version: current.version, runId: current.runId } } : {}),
    };
  }

  async getDatasetItem(_t: string, _d: string, part: MetaPart = "whole") {
    this.reads.push(`meta:${part}`);
    return this.metaAs(part);
  }

  async getCustomerItems(_t: string, _d: string, customerId: string, part: MetaPart = "whole") {
    this.reads.push(`customer:${part}`);
    const meta = this.metaAs(part);
    return { meta, view: meta?.current ? this.views.get(customerId) : undefined };
  }
}

function routesOver(store: CountingStore) {
  const routes = lookupRoutes({ store });
  const request = (routeId: ApiRequest["routeId"], params: Record<string, string>): ApiRequest => ({
    routeId,
    params,
    query: {},
    body: undefined,
    tenantId: TENANT,
    requestId: "test",
  });
  const call = async (routeId: "getCustomer", params: Record<string, string>) => {
    const handle = routes[routeId];
    if (!handle) throw new Error(routeId);
    try {
      return await handle(request(routeId, params));
    } catch (error) {
      return { status: (error as { status?: number }).status ?? 500, body: (error as Error).message };
    }
  };
  return {
    customer: (customerId = "C01") => call("getCustomer", { datasetId: DATASET, customerId }),
  };
}

describe("the lookup routes' reads of the committed version", () => {
  it("read META whole once per version, then by reference, and answer as from the whole item", async () => {
    const store = new CountingStore();
    const { customer } = routesOver(store);
    const expected = customerAnswer(DATASET, "C01", version(1, "r1"), VIEW);

    expect(await customer()).toEqual({ status: 200, body: expected });
    expect(store.reads).toEqual(["customer:ref", "customer:whole"]);
    store.reads = [];
    expect(await customer()).toEqual({ status: 200, body: expected });
    expect(await customer()).toEqual({ status: 200, body: expected });
    expect(store.reads).toEqual(["customer:ref", "customer:ref"]);
  });

  it("serve a new commit from the first request that sees it, whether its version or only its run differs", async () => {
    const store = new CountingStore();
    const { customer } = routesOver(store);
    await customer();

    // Version 2: the champions renamed, the customer rewritten.
    store.meta = { ...store.meta, current: version(2, "r2", "Best customers") };
    store.views.set("C01", { ...VIEW, monetary: 260 });
    store.reads = [];
    const second = await customer();
    expect(store.reads).toEqual(["customer:ref", "customer:whole"]);
    expect(second.body).toMatchObject({ version: 2, runId: "r2", monetary: 260 });
    expect((second.body as { segments: Array<{ name: string }> }).segments[0]?.name).toBe("Best customers");

    // The same version number committed by another run (a dataset deleted and made again): read whole.
    store.meta = { ...store.meta, current: version(2, "r9", "Top") };
    store.reads = [];
    const third = await customer();
    expect(store.reads).toEqual(["customer:ref", "customer:whole"]);
    expect(third.body).toMatchObject({ version: 2, runId: "r9" });
  });

  it("tell no dataset, no run yet and no customer apart from the reference alone", async () => {
    const store = new CountingStore();
    const { customer } = routesOver(store);
    expect(await customer("C99")).toMatchObject({ status: 404, body: "No such customer in this dataset" });
    store.meta = { pk: "T#acme#D#shop", sk: "META", settings: {} };
    store.reads = [];
    expect(await customer()).toMatchObject({ status: 404, body: "Dataset shop has no completed run yet" });
    store.meta = undefined;
    expect(await customer()).toMatchObject({ status: 404, body: "Dataset shop does not exist" });
    expect(store.reads).toEqual(["customer:ref", "customer:ref"]);
  });
});

/** A value of the type a zod schema describes, for the view's field types. */
function sample(schema: z.ZodType): unknown {
  const def = schema.def as unknown as {
    type: string;
    innerType?: z.ZodType;
    element?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    entries?: Record<string, string>;
    values?: unknown[];
  };
  switch (def.type) {
    case "string":
      return "sample";
    case "number":
      return 0.5;
    case "boolean":
      return true;
    case "optional":
    case "nullable":
    case "default":
      return sample(def.innerType as z.ZodType);
    case "array":
      return [sample(def.element as z.ZodType)];
    case "enum":
      return Object.values(def.entries ?? {})[0];
    case "literal":
      return def.values?.[0];
    case "object":
      return Object.fromEntries(Object.entries(def.shape ?? {}).map(([k, v]) => [k, sample(v)]));
    default:
      throw new Error(`no sample for a view field of type ${def.type}: add one here`);
  }
}

describe("a stored view in the lookup", () => {
  it("keeps every field of CustomerView, and the answer is the read path's", async () => {
    const full: Record<string, unknown> = { ...VIEW };
    for (const [field, schema] of Object.entries(customerViewSchema.shape))
      if (!(field in full)) full[field] = sample(schema as z.ZodType);
    // The fixture is a valid view with every field set.
    expect(customerViewSchema.parse(full)).toEqual(full);
    expect(Object.keys(full).sort()).toEqual(Object.keys(customerViewSchema.shape).sort());

    expect(parseView(full)).toEqual(full);
    // A field the lookup's own schema has never heard of passes too.
    expect(parseView({ ...full, addedLater: "x" })).toMatchObject({ addedLater: "x" });

    const store = new CountingStore();
    store.views.set("C01", full);
    const got = await routesOver(store).customer();
    const readPath = customerAnswer(DATASET, "C01", version(1, "r1"), customerViewSchema.parse(full));
    expect(got).toEqual({ status: 200, body: readPath });
  });
});
