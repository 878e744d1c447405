/**
 * Keys that name Object.prototype's properties (`__proto__`, `constructor`, `toString`, …) in a request body:
 * refused on every route that takes a body, at the HTTP edge, with 400 VALIDATION_FAILED, detail code
 * `reserved_key` and the key's path, before the route's core runs. The same names as values (an attribute a
 * rule names, a file name) are plain text and reach the core.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { type ApiRequest, apiHandler, type RouteHandler, takesBody } from "../../shared/http/api";
import { RESERVED_KEYS, reservedKeys } from "../../shared/http/validation";
import { HTTP_FUNCTIONS, ROUTES, type RouteId, routeKey } from "../../shared/routes";
import { PROTOTYPE_NAMES } from "../support/prototype-names";

const reached: ApiRequest[] = [];
const handlers = Object.fromEntries(
  ROUTES.map((r) => [
    r.id,
    (async (req) => {
      reached.push(req);
      return { status: 200, body: {} };
    }) satisfies RouteHandler,
  ]),
) as Record<RouteId, RouteHandler>;
const options = { defaultTenant: "demo", scopePrefix: "segmentation", requireTenantClaim: false };
const functions = Object.fromEntries(HTTP_FUNCTIONS.map((fn) => [fn, apiHandler(fn, handlers, options)]));
const caller = {
  jwt: {
    claims: { scope: "segmentation/read segmentation/write segmentation/admin" },
    scopes: null,
  },
};

type Route = (typeof ROUTES)[number];
// The routes whose body the shell parses (shared/http/api.ts takesBody); the others ignore any body sent.
const withBody = ROUTES.filter((r) => takesBody(r));

async function send(route: Route, body: string) {
  const event = {
    version: "2.0",
    routeKey: routeKey(route),
    rawPath: route.path,
    rawQueryString: "",
    headers: { "content-type": "application/json" },
    pathParameters: { datasetId: "ds", segmentId: "rule:x", customerId: "C1" },
    requestContext: { requestId: "r", authorizer: caller },
    isBase64Encoded: false,
    body,
  } as unknown as APIGatewayProxyEventV2;
  const handler = functions[route.fn] as (e: APIGatewayProxyEventV2, c: Context) => Promise<unknown>;
  const res = (await handler(event, {} as Context)) as APIGatewayProxyStructuredResultV2;
  return { status: res.statusCode, body: JSON.parse(res.body ?? "{}") as Record<string, unknown> };
}

/** A body with `name` as a key at `where`, written as text (so "__proto__" is an own key, as sent). */
function bodies(name: string): [string, string][] {
  const k = JSON.stringify(name);
  return [
    [`{${k}:1}`, `body.${name}`],
    [`{"fileName":"a.csv","columns":{${k}:"Kunde"}}`, `body.columns.${name}`],
    [`{"clusters":{"enabled":true,${k}:{"a":1}}}`, `body.clusters.${name}`],
    [
      `{"name":"x","rule":{"and":[{"field":"monetary","op":"gte","value":1},{${k}:[]}]}}`,
      `body.rule.and.1.${name}`,
    ],
    [
      `{"name":"x","rule":{"field":"first_purchase","op":"after","value":{${k}:3}}}`,
      `body.rule.value.${name}`,
    ],
    [`[{"a":[{${k}:null}]}]`, `body.0.a.0.${name}`],
  ];
}

describe("reserved keys in request bodies", () => {
  it("are exactly the own property names of Object.prototype", () => {
    expect([...RESERVED_KEYS].sort()).toEqual([...PROTOTYPE_NAMES].sort());
  });

  for (const route of withBody) {
    it(`${route.method} ${route.path}: 400 reserved_key with the key's path, core not reached`, async () => {
      for (const name of PROTOTYPE_NAMES) {
        for (const [body, path] of bodies(name)) {
          const before = reached.length;
          const res = await send(route, body);
          expect(res.status, body).toBe(400);
          const error = res.body.error as { code: string; details: { path: string; code: string }[] };
          expect(error.code).toBe("VALIDATION_FAILED");
          expect(error.details).toEqual([expect.objectContaining({ path, code: "reserved_key" })]);
          expect(reached.length, `${route.id} reached with ${body}`).toBe(before);
        }
      }
      // The same bodies with an ordinary key reach the core.
      const before = reached.length;
      for (const [body] of bodies("plain")) expect((await send(route, body)).status).toBe(200);
      expect(reached.length).toBe(before + bodies("plain").length);
    });
  }

  it("lets the names through as values: an attribute a rule names, a mapped header", async () => {
    const route = ROUTES.find((r) => r.id === "putDefinition") as Route;
    for (const name of PROTOTYPE_NAMES) {
      const body = { name, rule: { field: `attributes.${name}`, op: "eq", value: name } };
      expect((await send(route, JSON.stringify(body))).status).toBe(200);
      expect(reached.at(-1)?.body).toEqual(body);
    }
  });

  it("names every reserved key of a body, however deep, without recursion", () => {
    let deep: unknown = JSON.parse('{"__proto__":1}');
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(reservedKeys(deep, "body")).toEqual([
      expect.objectContaining({ path: expect.stringMatching(/^body\.0\.0\..*…$/), code: "reserved_key" }),
    ]);
    const many = JSON.parse(`{"a":{"constructor":1,"toString":2},"b":[{"valueOf":3}]}`);
    expect(reservedKeys(many, "body").map((d) => d.path)).toEqual([
      "body.a.constructor",
      "body.a.toString",
      "body.b.0.valueOf",
    ]);
  });
});
