/**
 * The OpenAPI document: valid OpenAPI 3.1 by an independent validator, one operation per route of the table
 * with the route's id and scope, every reference resolvable, and request-body schemas that agree with the
 * server's own zod schemas on hand-picked samples. The documented rule schema is checked against the engine:
 * every definition the engine accepts, hand-picked or generated, must be accepted by the JSON Schema.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { CONTRACTS } from "../../shared/api/contract";
import { readApiRoutes } from "../../shared/api/functions";
import { buildOpenApiDocument } from "../../shared/api/openapi";
import { OPERATORS, validateSegmentDefinition } from "../../shared/engine/rules";
import { apiHandler } from "../../shared/http/api";
import { CursorCodec } from "../../shared/http/cursor";
import type { DatasetStore } from "../../shared/pipeline/ports";
import { ROUTES } from "../../shared/routes";

// biome-ignore lint/suspicious/noExplicitAny: the document is walked by path, as JSON
type Json = Record<string, any>;

const doc = buildOpenApiDocument() as Json;
const schemas = doc.components.schemas as Record<string, Json>;

function operations(): Array<{ method: string; path: string; op: Json }> {
  const out: Array<{ method: string; path: string; op: Json }> = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, op] of Object.entries(item)) out.push({ method: method.toUpperCase(), path, op });
  }
  return out;
}

function opOf(method: string, path: string): Json {
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`no operation ${method} ${path}`);
  return op;
}

/** Every `$ref` anywhere in a value. */
function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, found);
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string") found.push(v);
      else refs(v, found);
    }
  }
  return found;
}

/** A schema of the document, made standalone for Ajv: components become $defs. */
function standalone(schema: Json): Json {
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== "object" || value === null) return value;
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k === "$ref" && typeof v === "string" ? v.replace("#/components/schemas/", "#/$defs/") : rewrite(v),
      ]),
    );
  };
  return { ...(rewrite(schema) as Json), $defs: rewrite(schemas) };
}

const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
const compiled = new Map<Json, ValidateFunction>();
function validatorFor(schema: Json): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(standalone(schema));
    compiled.set(schema, fn);
  }
  return fn;
}
function bodySchema(method: string, path: string): Json {
  return opOf(method, path).requestBody.content["application/json"].schema;
}

describe("OpenAPI document", () => {
  it("is valid OpenAPI 3.1 for an independent validator, which does reject a broken copy", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)).toEqual([]);
    expect(result.valid).toBe(true);

    const broken = structuredClone(doc);
    delete broken.info;
    broken.paths["/health"].get.responses = { "200": { content: {} } };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it("has exactly one operation per route of the table, with the route's id and summary", () => {
    const ops = operations();
    expect(ops.map((o) => `${o.method} ${o.path}`).sort()).toEqual(
      ROUTES.map((r) => `${r.method} ${r.path}`).sort(),
    );
    expect(new Set(ops.map((o) => o.op.operationId)).size).toBe(ROUTES.length);
    for (const route of ROUTES) {
      const op = opOf(route.method, route.path);
      expect(op.operationId).toBe(route.id);
      expect(op.summary).toBe(route.summary);
      expect(op.tags).toEqual([CONTRACTS[route.id].tag]);
    }
    expect(opOf("GET", "/openapi.json").operationId).toBe("getOpenApi");
  });

  it("asks no token on public routes and the route's own scope elsewhere", () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({
      type: "http",
      scheme: "bearer",
      bearerFormat: "JWT",
    });
    expect(doc.security).toBeUndefined();
    for (const route of ROUTES) {
      const { security } = opOf(route.method, route.path);
      if (route.scope === null) expect(security, route.id).toEqual([]);
      else expect(security, route.id).toEqual([{ bearerAuth: [`segmentation/${route.scope}`] }]);
    }
    // Spelled out by hand, independently of the table's scope field.
    expect(opOf("GET", "/health").security).toEqual([]);
    expect(opOf("GET", "/openapi.json").security).toEqual([]);
    expect(opOf("POST", "/datasets/{datasetId}/uploads").security).toEqual([
      { bearerAuth: ["segmentation/write"] },
    ]);
    expect(opOf("PUT", "/datasets/{datasetId}/settings").security).toEqual([
      { bearerAuth: ["segmentation/admin"] },
    ]);
    expect(buildOpenApiDocument({ scopePrefix: "api://segments" }).paths).toMatchObject({
      "/datasets/{datasetId}/runs": { get: { security: [{ bearerAuth: ["api://segments/read"] }] } },
    });
  });

  it("resolves every reference to a component, and every component compiles as JSON Schema 2020-12", () => {
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(50);
    for (const ref of all) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(schemas[ref.slice("#/components/schemas/".length)], ref).toBeDefined();
    }
    for (const name of Object.keys(schemas))
      expect(() => validatorFor({ $ref: `#/components/schemas/${name}` })).not.toThrow();
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining(["Error", "SegmentSummary", "SegmentRule", "Dataset", "Run"]),
    );
    expect(Object.keys(schemas).some((name) => name.startsWith("SegmentRuleLevel"))).toBe(false);
  });

  it("says the rejected-rows report numbers rows by the file's line, and how money figures are rounded", () => {
    expect(schemas.Run?.properties?.reportKey?.description).toMatch(/line is the file's line number/);
    const summary = schemas.SegmentSummary?.properties as Json;
    expect(summary.revenue.description).toMatch(/exact to the cent/);
    expect(summary.averageOrderValue.description).toMatch(/to the cent \(halves away from zero\)/);
  });

  it("declares the path parameters of each path, and each error status with its codes", () => {
    const members = opOf("GET", "/datasets/{datasetId}/segments/{segmentId}/members");
    expect(members.parameters.map((p: Json) => [p.name, p.in, p.required])).toEqual([
      ["datasetId", "path", true],
      ["segmentId", "path", true],
      ["limit", "query", false],
      ["cursor", "query", false],
    ]);
    const segmentId = validatorFor(members.parameters[1].schema);
    expect(segmentId("rfm:champions")).toBe(true);
    expect(segmentId("champions")).toBe(false);
    expect(members.parameters[2].schema).toMatchObject({
      type: "integer",
      minimum: 1,
      maximum: 1000,
      default: 100,
    });

    const codesOf = (response: Json): string[] => {
      const schema = response.content["application/json"].schema;
      const ours = schema.anyOf ? schema.anyOf[0] : schema;
      return ours.allOf[1].properties.error.properties.code.enum;
    };
    expect(codesOf(members.responses["404"]).sort()).toEqual(
      ["DATASET_NOT_FOUND", "DATASET_NOT_READY", "SEGMENT_NOT_FOUND"].sort(),
    );
    expect(codesOf(members.responses["409"])).toEqual(["CURSOR_STALE", "MEMBER_PAGES_MISSING"]);
    expect(codesOf(members.responses["400"]).sort()).toEqual(["BAD_CURSOR", "VALIDATION_FAILED"]);
    expect(members.responses["413"]).toBeUndefined();
    expect(Object.keys(opOf("GET", "/health").responses).sort()).toEqual(["200", "429", "500"]);
    expect(
      opOf("DELETE", "/datasets/{datasetId}/definitions/{segmentId}").responses["204"].content,
    ).toBeUndefined();
    const upload = opOf("POST", "/datasets/{datasetId}/uploads");
    expect(codesOf(upload.responses["413"])).toEqual(["PAYLOAD_TOO_LARGE"]);
    expect(codesOf(upload.responses["400"]).sort()).toEqual(
      ["BAD_JSON", "UNSUPPORTED_MEDIA_TYPE", "VALIDATION_FAILED"].sort(),
    );
  });
});

describe("request body schemas", () => {
  /** Samples with the verdict worked out by hand; the server's zod schema must give the same. */
  const cases: Array<{
    method: string;
    path: string;
    zod: { safeParse(v: unknown): { success: boolean } };
    valid: unknown[];
    invalid: unknown[];
  }> = [
    {
      method: "POST",
      path: "/datasets",
      zod: CONTRACTS.createDataset.body,
      valid: [
        { datasetId: "shop-1" },
        {
          datasetId: "x",
          settings: { currency: "EUR", lifecycle: { newDays: 10 }, scheduledRefresh: false },
        },
      ],
      invalid: [
        {},
        { datasetId: "bad id!" },
        { datasetId: "x", extra: 1 },
        { datasetId: "x", settings: { currency: "eur" } },
        { datasetId: "-starts-with-dash" },
      ],
    },
    {
      method: "PUT",
      path: "/datasets/{datasetId}/settings",
      zod: CONTRACTS.putSettings.body,
      valid: [
        {},
        { clusters: { enabled: false } },
        { value: { horizonDays: 180, annualDiscountRate: 0.05 }, asOf: "1998-06-30" },
      ],
      invalid: [
        { value: { annualDiscountRate: 2 } },
        { foo: 1 },
        { clusters: { k: 1 } },
        { lifecycle: { newDays: 0 } },
        { asOf: "30.06.1998" },
      ],
    },
    {
      method: "POST",
      path: "/datasets/{datasetId}/uploads",
      zod: CONTRACTS.createUpload.body,
      valid: [
        { fileName: "orders.csv" },
        {
          fileName: "c.ndjson",
          kind: "customers",
          mode: "replace",
          compression: "gzip",
          columns: { customer_id: "Kunde" },
        },
      ],
      invalid: [
        {},
        { fileName: "x.csv", kind: "orders" },
        { fileName: "" },
        { fileName: "a.csv", mode: "upsert" },
        { fileName: "a.csv", columns: { customer_id: "" } },
      ],
    },
  ];

  for (const c of cases) {
    it(`${c.method} ${c.path}: accepts the valid samples and refuses the invalid ones, as the server does`, () => {
      const validate = validatorFor(bodySchema(c.method, c.path));
      for (const sample of c.valid) {
        expect(validate(sample), JSON.stringify([sample, validate.errors])).toBe(true);
        expect(c.zod.safeParse(sample).success, JSON.stringify(sample)).toBe(true);
      }
      for (const sample of c.invalid) {
        expect(validate(sample), JSON.stringify(sample)).toBe(false);
        expect(c.zod.safeParse(sample).success, JSON.stringify(sample)).toBe(false);
      }
    });
  }

  it("marks a body required unless the server reads a missing one as a valid {}", () => {
    expect(opOf("PUT", "/datasets/{datasetId}/settings").requestBody.required).toBe(false);
    expect(opOf("POST", "/datasets").requestBody.required).toBe(true);
    expect(opOf("POST", "/datasets/{datasetId}/uploads").requestBody.required).toBe(true);
    expect(opOf("PUT", "/datasets/{datasetId}/definitions/{segmentId}").requestBody.required).toBe(true);
  });
});

describe("rule segment definitions (documented SegmentRule against the engine)", () => {
  let validate: ValidateFunction;
  beforeAll(() => {
    const schema = bodySchema("PUT", "/datasets/{datasetId}/definitions/{segmentId}");
    expect(schema).toEqual({ $ref: "#/components/schemas/SegmentDefinitionRequest" });
    expect(bodySchema("POST", "/datasets/{datasetId}/dry-run")).toEqual(schema);
    validate = validatorFor(schema);
  });

  const cond = { field: "monetary", op: "gte", value: 200 };
  const nest = (levels: number) => {
    let rule: unknown = cond;
    for (let i = 1; i < levels; i++) rule = { not: rule };
    return rule;
  };
  const accepted: Array<[string, unknown]> = [
    [
      "the README's example",
      {
        or: [
          { field: "monetary", op: "gte", value: 200 },
          {
            and: [
              { field: "frequency", op: "gte", value: 2 },
              { field: "rfm_segment", op: "eq", value: "at-risk" },
            ],
          },
        ],
      },
    ],
    ["a relative date", { field: "last_purchase", op: "after", value: { days_ago: 30 } }],
    ["a date range", { field: "first_purchase", op: "between", value: ["2024-01-01", "2024-06-30"] }],
    ["a list", { field: "rfm_segment", op: "in", value: ["champions", "loyal"] }],
    ["a negated share", { not: { field: "channel_share.web", op: "gte", value: 0.5 } }],
    ["an attribute that exists", { field: "attributes.country", op: "exists" }],
    ["a boolean attribute", { field: "attributes.vip", op: "eq", value: true }],
    ["a category share", { field: "category_share.jazz", op: "lt", value: 0.2 }],
    ["a string prefix", { field: "cluster", op: "starts_with", value: "cluster:" }],
    ["ten levels, the deepest allowed", nest(10)],
  ];
  for (const [what, rule] of accepted) {
    it(`accepts ${what}, as the engine does`, () => {
      const body = { name: "Sample", description: "hand-written", rule };
      expect(validateSegmentDefinition(body).ok).toBe(true);
      expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    });
  }

  const refused: Array<[string, unknown]> = [
    ["an empty rule", { name: "x", rule: {} }],
    ["an empty group", { name: "x", rule: { and: [] } }],
    ["two forms in one node", { name: "x", rule: { and: [cond], or: [cond] } }],
    ["an unknown operator", { name: "x", rule: { field: "monetary", op: "greater", value: 1 } }],
    ["an unknown field", { name: "x", rule: { field: "monetry", op: "gte", value: 1 } }],
    ["an attribute without a name", { name: "x", rule: { field: "attributes.", op: "exists" } }],
    ["a missing value", { name: "x", rule: { field: "monetary", op: "gte" } }],
    ["a value for exists", { name: "x", rule: { field: "monetary", op: "exists", value: 1 } }],
    ["a range of three", { name: "x", rule: { field: "monetary", op: "between", value: [1, 2, 3] } }],
    ["an empty list", { name: "x", rule: { field: "rfm_segment", op: "in", value: [] } }],
    ["not with a list", { name: "x", rule: { not: [cond] } }],
    [
      "a relative date with more keys",
      { name: "x", rule: { field: "last_purchase", op: "after", value: { days_ago: 3, hours: 2 } } },
    ],
    ["an empty name", { name: "", rule: cond }],
    ["no name", { rule: cond }],
    ["an unknown property", { name: "x", rule: cond, color: "red" }],
  ];
  for (const [what, body] of refused) {
    it(`refuses ${what}, as the engine does`, () => {
      expect(validateSegmentDefinition(body).ok).toBe(false);
      expect(validate(body)).toBe(false);
    });
  }

  it("leaves the nesting limit to the server, as SegmentRule's description says", () => {
    const body = { name: "Deep", rule: nest(11) };
    expect(validateSegmentDefinition(body).ok).toBe(false);
    expect(validate(body)).toBe(true);
    expect(schemas.SegmentRule?.description).toMatch(/at most 10 levels/);
  });

  it("accepts every generated definition the engine accepts", () => {
    const field = fc.constantFrom(
      "monetary",
      "frequency",
      "recency_days",
      "first_purchase",
      "last_purchase",
      "rfm_segment",
      "lifecycle",
      "channel_share.web",
      "category_share.jazz",
      "attributes.country",
      "attributes.",
      "monetry",
    );
    const op = fc.constantFrom<string>(...OPERATORS, "equals");
    const scalar = fc.oneof(
      fc.integer({ min: -5, max: 500 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.constantFrom("at-risk", "2024-01-31", "", "champions", "web", "x".repeat(1001)),
      fc.boolean(),
      fc.record({ days_ago: fc.integer({ min: -1, max: 40_000 }) }),
      fc.constant({ days_ago: 3, extra: 1 }),
    );
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }));
    const anyCondition = fc.record({ field, op, value }, { requiredKeys: ["field", "op"] });
    // Well-formed conditions for each kind of field, so that a fair share of the trees is accepted.
    const number = fc.integer({ min: 0, max: 500 });
    const day = fc.constantFrom("2024-01-31", "1997-03-01");
    const numeric = fc.constantFrom("monetary", "frequency", "recency_days", "attributes.spend");
    const wellFormed = fc.oneof(
      fc.record({
        field: numeric,
        op: fc.constantFrom("eq", "neq", "gt", "gte", "lt", "lte"),
        value: number,
      }),
      fc.record({
        field: numeric,
        op: fc.constantFrom("in", "not_in"),
        value: fc.array(number, { minLength: 1, maxLength: 3 }),
      }),
      fc.record({
        field: numeric,
        op: fc.constant("between"),
        value: fc.tuple(number, number).map(([a, b]) => [Math.min(a, b), Math.max(a, b)]),
      }),
      fc.record({
        field: fc.constantFrom("rfm_segment", "lifecycle", "cluster"),
        op: fc.constantFrom("eq", "neq", "contains", "starts_with"),
        value: fc.constantFrom("at-risk", "champions", "new"),
      }),
      fc.record({
        field: fc.constantFrom("first_purchase", "last_purchase"),
        op: fc.constantFrom("before", "after"),
        value: fc.oneof(day, fc.record({ days_ago: fc.integer({ min: 0, max: 36_500 }) })),
      }),
      fc.record({
        field: fc.constantFrom("attributes.country", "channel_share.web"),
        op: fc.constantFrom("exists", "not_exists"),
      }),
    );
    const condition = fc.oneof({ arbitrary: wellFormed, weight: 2 }, { arbitrary: anyCondition, weight: 1 });
    const { rule } = fc.letrec<{ rule: unknown }>((tie) => ({
      rule: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        condition,
        fc.record({ and: fc.array(tie("rule"), { minLength: 1, maxLength: 3 }) }),
        fc.record({ or: fc.array(tie("rule"), { minLength: 1, maxLength: 3 }) }),
        fc.record({ not: tie("rule") }),
      ),
    }));
    const definition = rule.map((r) => JSON.parse(JSON.stringify({ name: "Generated", rule: r })) as unknown);

    let engineAccepted = 0;
    fc.assert(
      fc.property(definition, (body) => {
        if (!validateSegmentDefinition(body).ok) return true;
        engineAccepted++;
        return validate(body) === true;
      }),
      { numRuns: 2000, seed: 20_240_601 },
    );
    // The property means something only if the engine accepted a fair share of the samples.
    expect(engineAccepted).toBeGreaterThan(400);
  });
});

describe("GET /openapi.json", () => {
  it("is served by readApi without a token, as the document for the deployment's scope prefix", async () => {
    // The document touches no store: one that throws on any use proves it.
    const unused = <T extends object>() =>
      new Proxy({} as T, {
        get: () => () => {
          throw new Error("the store was used");
        },
      });
    const handler = apiHandler(
      "readApi",
      readApiRoutes(
        // Every dependency but these three is a store that throws when used.
        new Proxy(
          {
            cursors: new CursorCodec("x"),
            events: { publish: async () => {} },
            scopePrefix: "api://segments",
          } as Record<string | symbol, unknown>,
          { get: (given, key) => (key in given ? given[key] : unused<DatasetStore>()) },
        ) as unknown as Parameters<typeof readApiRoutes>[0],
      ),
      { defaultTenant: "demo", scopePrefix: "api://segments", requireTenantClaim: true },
    );
    const event = {
      version: "2.0",
      routeKey: "GET /openapi.json",
      rawPath: "/openapi.json",
      rawQueryString: "",
      headers: {},
      requestContext: { requestId: "r1" },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const res = (await handler(event, {} as Context)) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(200);
    expect(res.headers?.["content-type"]).toMatch(/^application\/json/);
    expect(res.headers?.["cache-control"]).toBe("public, max-age=300");
    const served = JSON.parse(res.body ?? "");
    expect(served).toEqual(
      JSON.parse(JSON.stringify(buildOpenApiDocument({ scopePrefix: "api://segments" }))),
    );
    expect(served.paths["/datasets/{datasetId}"].get.security).toEqual([
      { bearerAuth: ["api://segments/read"] },
    ]);
  });
});
