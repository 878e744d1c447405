/**
 * A route parses a body exactly when its contract has one: routes without a body in their contract (GET,
 * DELETE, and actions such as rotate-secret and enable) ignore what is sent, so no body can fail them with
 * BAD_JSON or VALIDATION_FAILED, codes their contract (and the OpenAPI document derived from it) does not list.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { CONTRACTS } from "../../shared/api/contract";
import { buildOpenApiDocument } from "../../shared/api/openapi";
import { apiHandler, type RouteHandler, takesBody } from "../../shared/http/api";
import { ROUTES, type RouteId, routeKey } from "../../shared/routes";

describe("bodies are parsed exactly where the contract has one", () => {
  it.each(ROUTES.map((r) => [r.id, r] as const))("%s", (id, route) => {
    const contract = CONTRACTS[id as RouteId] as { body?: unknown };
    expect(takesBody(route)).toBe(contract.body !== undefined);
  });

  it("the OpenAPI document has a request body for those routes only", () => {
    const doc = buildOpenApiDocument() as unknown as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    for (const route of ROUTES) {
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation, route.id).toBeDefined();
      expect(operation?.requestBody !== undefined, route.id).toBe(takesBody(route));
    }
  });
});

describe("a POST without a body in its contract ignores the body sent", () => {
  const reached: unknown[] = [];
  const handlers: Partial<Record<RouteId, RouteHandler>> = {};
  for (const route of ROUTES) {
    if (route.fn !== "writeApi") continue;
    handlers[route.id] = async (req) => {
      reached.push(req.body);
      return { status: 200, body: { ok: true } };
    };
  }
  const handler = apiHandler("writeApi", handlers, {
    defaultTenant: "demo",
    scopePrefix: "segmentation",
    requireTenantClaim: false,
  });
  const post = async (id: RouteId, body: string) => {
    const route = ROUTES.find((r) => r.id === id);
    if (!route) throw new Error(id);
    const rawPath = route.path
      .replace("{datasetId}", "shop")
      .replace("{destinationId}", "dst_abcdefghijklmnopqrst");
    const event = {
      version: "2.0",
      routeKey: routeKey(route),
      rawPath,
      rawQueryString: "",
      headers: { "content-type": "application/json" },
      pathParameters: { datasetId: "shop", destinationId: "dst_abcdefghijklmnopqrst" },
      requestContext: {
        requestId: "t",
        routeKey: routeKey(route),
        http: { method: route.method, path: rawPath },
        authorizer: { jwt: { claims: { scope: "segmentation/write", tenant: "t1" }, scopes: null } },
      },
      body,
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    return (await handler(event, {} as Context)) as APIGatewayProxyStructuredResultV2;
  };

  it.each(["rotateDestinationSecret", "enableDestination"] as const)("%s", async (id) => {
    reached.length = 0;
    for (const body of ["{", '{"__proto__":1}', '{"n":1e400}', "\u0000"]) {
      const answer = await post(id, body);
      expect(answer.statusCode, `${body}: ${answer.body}`).toBe(200);
    }
    expect(reached).toEqual([undefined, undefined, undefined, undefined]);
  });

  it("a route with a body still refuses one that is not JSON", async () => {
    const answer = await post("createDestination", "{");
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body ?? "").error.code).toBe("BAD_JSON");
  });
});
