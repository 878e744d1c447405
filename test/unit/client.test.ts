/**
 * The typed client: its types follow the contract, and against a small HTTP server on the loopback that
 * records each request and plays a canned answer, it sends the right method, path, query, body and headers,
 * and turns answers into data or an ApiError. Its bundle must not carry zod or server code.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from "vitest";
import type { Contracts, SegmentDefinitionInput } from "../../shared/api/contract";
import {
  ApiError,
  type Client,
  createClient,
  type RouteInput,
  type RouteOutput,
  type RouteResponse,
} from "../../shared/client";
import type { SegmentLiftProfile } from "../../shared/engine/profiles";
import type { Rule } from "../../shared/engine/rules";
import { ROUTES, type RouteId } from "../../shared/routes";

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}
interface Canned {
  status: number;
  body?: string;
  contentType?: string;
}

let server: Server;
let baseUrl: string;
let recorded: Recorded[] = [];
let answers: Canned[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      recorded.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const answer = answers.shift() ?? { status: 200, body: "{}" };
      res.writeHead(answer.status, { "content-type": answer.contentType ?? "application/json" });
      res.end(answer.body ?? "");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.close();
  await once(server, "close");
});

beforeEach(() => {
  recorded = [];
  answers = [];
});

const json = (status: number, body: unknown): Canned => ({ status, body: JSON.stringify(body) });

describe("types", () => {
  it("has one contract and one method per route id", () => {
    expectTypeOf<keyof Contracts>().toEqualTypeOf<RouteId>();
    expectTypeOf<Extract<keyof Client, RouteId>>().toEqualTypeOf<RouteId>();
  });

  it("takes each route's params, query and body as the contract says", () => {
    expectTypeOf<RouteInput<"getCustomer">>().toEqualTypeOf<{
      params: { datasetId: string; customerId: string };
      query?: never;
      body?: never;
    }>();
    expectTypeOf<RouteInput<"putDefinition">>().toEqualTypeOf<{
      params: { datasetId: string; segmentId: string };
      query?: never;
      body: SegmentDefinitionInput;
    }>();
    expectTypeOf<RouteInput<"putDefinition">["body"]["rule"]>().toEqualTypeOf<Rule>();
    expectTypeOf<RouteInput<"createUpload">["body"]>().toMatchObjectType<{ fileName: string }>();
    expectTypeOf<NonNullable<RouteInput<"createUpload">["body"]["mode"]>>().toEqualTypeOf<
      "append" | "replace"
    >();
    // Every query field is optional, so is the query; a coerced limit takes a number.
    expectTypeOf<RouteInput<"listSegmentMembers">>().toHaveProperty("query");
    expectTypeOf<{ limit: number }>().toExtend<NonNullable<RouteInput<"listSegmentMembers">["query"]>>();
    expectTypeOf<Parameters<Client["health"]>>().toEqualTypeOf<[input?: RouteInput<"health">]>();
    expectTypeOf<Parameters<Client["listDatasets"]>>().toEqualTypeOf<[input?: RouteInput<"listDatasets">]>();
    // A settings body is all optional, and may be left out.
    expectTypeOf<Parameters<Client["putSettings"]>[0]>().toExtend<{ params: { datasetId: string } }>();

    const client = createClient({ baseUrl: "http://127.0.0.1:1" });
    const typeChecksOnly = () => {
      // @ts-expect-error getRun needs its path parameters
      void client.getRun();
      // @ts-expect-error a customer needs customerId
      void client.getCustomer({ params: { datasetId: "shop" } });
      const orders = { fileName: "a.csv", kind: "orders" } as const;
      // @ts-expect-error an upload's kind is transactions or customers
      void client.createUpload({ params: { datasetId: "shop" }, body: orders });
      // @ts-expect-error health takes no body
      void client.health({ body: {} });
    };
    expect(typeChecksOnly).toBeTypeOf("function");
  });

  it("resolves to the body of the route's success answer", () => {
    expectTypeOf<RouteOutput<"health">>().toEqualTypeOf<{ status: "ok" }>();
    expectTypeOf<RouteOutput<"deleteDefinition">>().toEqualTypeOf<undefined>();
    expectTypeOf<RouteOutput<"listSegments">["segments"][number]["family"]>().toEqualTypeOf<
      "rfm" | "cluster" | "lifecycle" | "rule" | "list" | "attr" | "lookalike"
    >();
    expectTypeOf<RouteOutput<"getCustomer">["predictions"]>().toEqualTypeOf<{
      model: "bgNbd" | "paretoNbd" | "mbgNbd";
      probabilityAlive: number | null;
      churnRisk: number | null;
      churnRiskBasis: "model" | "unknown";
      churnRiskNote: string;
      expectedPurchases: number | null;
      expectedPurchasesInterval: { low: number; high: number } | null;
      clv: number | null;
      clvInterval: { low: number; high: number } | null;
      horizonDays: number | null;
    } | null>();
    expectTypeOf<RouteOutput<"getModel">["selectedModel"]>().toEqualTypeOf<
      "bgNbd" | "paretoNbd" | "mbgNbd" | null
    >();
    expectTypeOf<RouteOutput<"listSegmentMembers">["nextCursor"]>().toEqualTypeOf<string | null>();
    // A segment's profile with lift is the engine's profile, or null for a version without profiles.
    expectTypeOf<RouteOutput<"getSegment">["liftProfile"]>().toExtend<SegmentLiftProfile | null>();
    expectTypeOf<SegmentLiftProfile | null>().toExtend<RouteOutput<"getSegment">["liftProfile"]>();
    expectTypeOf<RouteOutput<"getDefinition">["rule"]>().toEqualTypeOf<Rule>();
    expectTypeOf<RouteResponse<"putDefinition">["status"]>().toEqualTypeOf<200 | 201>();
    expectTypeOf<ReturnType<Client["getRun"]>>().toEqualTypeOf<Promise<RouteOutput<"getRun">>>();
  });
});

describe("requests", () => {
  it("sends a GET with encoded path parameters, the token and no body", async () => {
    const client = createClient({ baseUrl, token: "tok-1" });
    answers.push(json(200, { customerId: "a b/c" }));
    const data = await client.getCustomer({ params: { datasetId: "shop", customerId: "a b/c" } });
    expect(data).toEqual({ customerId: "a b/c" });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ method: "GET", url: "/datasets/shop/customers/a%20b%2Fc", body: "" });
    expect(recorded[0]?.headers.authorization).toBe("Bearer tok-1");
    expect(recorded[0]?.headers.accept).toBe("application/json");
    expect(recorded[0]?.headers["content-type"]).toBeUndefined();
  });

  it("keeps ':' in segment ids and sends only the query values given", async () => {
    const client = createClient({ baseUrl });
    answers.push(json(200, { customerIds: ["c1"], nextCursor: null }));
    await client.listSegmentMembers({
      params: { datasetId: "cdnow", segmentId: "rfm:champions" },
      query: { limit: 5, cursor: undefined },
    });
    await client.listSegmentMembers({
      params: { datasetId: "cdnow", segmentId: "rfm:champions" },
      query: { cursor: "abc.def=&x" },
    });
    expect(recorded.map((r) => r.url)).toEqual([
      "/datasets/cdnow/segments/rfm:champions/members?limit=5",
      "/datasets/cdnow/segments/rfm:champions/members?cursor=abc.def%3D%26x",
    ]);
    expect(recorded[0]?.headers.authorization).toBeUndefined();
  });

  it("sends a JSON body and returns the status with request()", async () => {
    const client = createClient({ baseUrl });
    const body = { name: "Big spenders", rule: { field: "monetary", op: "gte", value: 500 } } as const;
    answers.push(json(201, { segmentId: "rule:big", recompute: "none" }));
    const answer = await client.request("putDefinition", {
      params: { datasetId: "cdnow", segmentId: "rule:big" },
      body,
    });
    expect(answer).toEqual({ status: 201, data: { segmentId: "rule:big", recompute: "none" } });
    expect(recorded[0]).toMatchObject({ method: "PUT", url: "/datasets/cdnow/definitions/rule:big" });
    expect(recorded[0]?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(recorded[0]?.body ?? "")).toEqual(body);
  });

  it("resolves an empty 204 to undefined", async () => {
    const client = createClient({ baseUrl });
    answers.push({ status: 204 });
    await expect(
      client.deleteDefinition({ params: { datasetId: "cdnow", segmentId: "rule:big" } }),
    ).resolves.toBeUndefined();
    expect(recorded[0]).toMatchObject({ method: "DELETE", url: "/datasets/cdnow/definitions/rule:big" });
  });

  it("asks a token function for a fresh token on each request", async () => {
    let issued = 0;
    const client = createClient({ baseUrl, token: async () => `t${++issued}` });
    await client.health();
    await client.call("health");
    expect(recorded.map((r) => r.headers.authorization)).toEqual(["Bearer t1", "Bearer t2"]);
  });

  it("joins a base URL with a path and a trailing slash, and uses the fetch it is given", async () => {
    const seen: string[] = [];
    const client = createClient({
      baseUrl: `${baseUrl}/prod/`,
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
    });
    await client.listDatasets({ query: { limit: 2 } });
    expect(recorded[0]?.url).toBe("/prod/datasets?limit=2");
    expect(seen).toEqual([`${baseUrl}/prod/datasets?limit=2`]);
  });

  it("refuses a call without a path parameter before sending anything", async () => {
    const client = createClient({ baseUrl });
    await expect(client.call("getRun", { params: { datasetId: "shop" } } as never)).rejects.toThrow(
      /getRun needs the path parameter runId/,
    );
    expect(recorded).toHaveLength(0);
  });

  it("has a method for every route that calls the route's method and path", async () => {
    const client = createClient({ baseUrl });
    for (const route of ROUTES) {
      const params = Object.fromEntries(
        [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => [m[1], `${m[1]}-1`]),
      );
      answers.push(json(200, {}));
      await (client[route.id] as (input: unknown) => Promise<unknown>)({ params });
    }
    expect(recorded.map((r) => `${r.method} ${r.url}`)).toEqual(
      ROUTES.map((r) => `${r.method} ${r.path.replace(/\{([^}]+)\}/g, "$1-1")}`),
    );
  });
});

describe("errors", () => {
  const caught = async (promise: Promise<unknown>): Promise<ApiError> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  };

  it("turns the service's error body into an ApiError with its code and details", async () => {
    const client = createClient({ baseUrl });
    const details = [{ path: "body.rule.field", code: "unknown_field", message: "unknown field" }];
    answers.push(
      json(400, {
        error: { code: "VALIDATION_FAILED", message: "The segment definition is invalid", details },
      }),
    );
    const error = await caught(
      client.putDefinition({
        params: { datasetId: "cdnow", segmentId: "rule:x" },
        body: { name: "x", rule: { field: "monetry", op: "gte", value: 1 } as unknown as Rule },
      }),
    );
    expect(error).toMatchObject({
      name: "ApiError",
      status: 400,
      code: "VALIDATION_FAILED",
      message: "The segment definition is invalid",
      details,
    });

    answers.push(
      json(404, { error: { code: "DATASET_NOT_FOUND", message: "Dataset x does not exist", details: [] } }),
    );
    const missing = await caught(client.getDataset({ params: { datasetId: "x" } }));
    expect([missing.status, missing.code, missing.details]).toEqual([404, "DATASET_NOT_FOUND", []]);
  });

  it("names answers in another shape by their status", async () => {
    const client = createClient({ baseUrl, token: "expired" });
    answers.push(json(401, { message: "Unauthorized" }));
    const unauthorized = await caught(client.listDatasets());
    expect([unauthorized.status, unauthorized.code, unauthorized.message]).toEqual([
      401,
      "HTTP_401",
      "Unauthorized",
    ]);

    answers.push({ status: 502, body: "Bad Gateway", contentType: "text/plain" });
    const gateway = await caught(client.health());
    expect([gateway.status, gateway.code, gateway.message, gateway.body]).toEqual([
      502,
      "HTTP_502",
      "HTTP 502",
      "Bad Gateway",
    ]);
  });

  it("refuses a success answer that is not JSON", async () => {
    const client = createClient({ baseUrl });
    answers.push({ status: 200, body: "<html>", contentType: "text/html" });
    const error = await caught(client.health());
    expect([error.status, error.code]).toEqual([200, "INVALID_RESPONSE"]);
  });
});

describe("bundle", () => {
  it("needs nothing but the route table at run time", async () => {
    const entry = fileURLToPath(new URL("../../shared/client/index.ts", import.meta.url));
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "neutral",
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs).sort();
    expect(inputs).toEqual(["shared/client/index.ts", "shared/routes.ts"]);
  });
});
