import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { NotFoundError } from "../../shared/errors";
import { type ApiRequest, apiHandler, MAX_BODY_BYTES } from "../../shared/http/api";
import { parseWith } from "../../shared/http/validation";
import { ROUTES } from "../../shared/routes";

const seen: ApiRequest[] = [];
// Every other route of the function answers 418, so a dispatch to the wrong route shows.
const others = Object.fromEntries(
  ROUTES.filter((r) => r.fn === "writeApi").map((r) => [r.id, async () => ({ status: 418 })]),
);
const handler = apiHandler(
  "writeApi",
  {
    ...others,
    createUpload: async (req) => {
      seen.push(req);
      const body = parseWith(
        z.object({ fileName: z.string().min(1), mode: z.enum(["append", "replace"]) }),
        req.body,
        "body",
      );
      if (body.fileName === "missing") throw new NotFoundError("NOPE", "not here");
      if (body.fileName === "crash") throw new Error("secret customer value C0000448");
      return { status: 201, body: { ok: true, tenant: req.tenantId } };
    },
  },
  { defaultTenant: "demo", scopePrefix: "segmentation", requireTenantClaim: false },
);

/** What API Gateway's JWT authorizer passes on for a token with the write scope and no tenant claim. */
const writer = { jwt: { claims: { scope: "segmentation/write" }, scopes: ["segmentation/write"] } };

function event(
  body: string | undefined,
  extra: Partial<APIGatewayProxyEventV2> = {},
): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "POST /datasets/{datasetId}/uploads",
    rawPath: "/datasets/ds/uploads",
    rawQueryString: "",
    headers: { "content-type": "application/json" },
    pathParameters: { datasetId: "ds" },
    requestContext: {
      requestId: "r1",
      authorizer: writer,
    } as unknown as APIGatewayProxyEventV2["requestContext"],
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body }),
    ...extra,
  };
}

async function call(e: APIGatewayProxyEventV2) {
  const res = (await handler(e, {} as Context)) as APIGatewayProxyStructuredResultV2;
  return { status: res.statusCode, body: JSON.parse(res.body ?? "{}") };
}

describe("apiHandler", () => {
  it("runs the route's core with parsed path, body and the default tenant", async () => {
    const res = await call(event(JSON.stringify({ fileName: "a.csv", mode: "append" })));
    expect(res).toEqual({ status: 201, body: { ok: true, tenant: "demo" } });
    expect(seen.at(-1)?.params).toEqual({ datasetId: "ds" });
  });

  it("takes the tenant from the JWT claims when present", async () => {
    const res = await call(
      event(JSON.stringify({ fileName: "a.csv", mode: "append" }), {
        requestContext: {
          requestId: "r2",
          authorizer: { jwt: { claims: { tenant: "acme", scope: "segmentation/write" }, scopes: null } },
        } as never,
      }),
    );
    expect(res.body.tenant).toBe("acme");
  });

  it("answers malformed JSON with 400 BAD_JSON", async () => {
    const res = await call(event('{"fileName": '));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("BAD_JSON");
  });

  it("answers a schema-invalid body with 400 naming each field, without echoing the input", async () => {
    const res = await call(event(JSON.stringify({ fileName: "", mode: "sideways-INPUT-ECHO" })));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      "body.fileName",
      "body.mode",
    ]);
    expect(JSON.stringify(res.body)).not.toContain("sideways-INPUT-ECHO");
  });

  it("refuses an oversized body with 413 and a non-JSON body with 400", async () => {
    const big = await call(event(JSON.stringify({ fileName: "x".repeat(MAX_BODY_BYTES), mode: "append" })));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("PAYLOAD_TOO_LARGE");
    const form = await call(
      event("a=b", { headers: { "content-type": "application/x-www-form-urlencoded" } }),
    );
    expect(form.status).toBe(400);
    expect(form.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("maps typed errors to their status and unknown ones to a generic 500 without the message", async () => {
    const missing = await call(event(JSON.stringify({ fileName: "missing", mode: "append" })));
    expect(missing).toEqual({
      status: 404,
      body: { error: { code: "NOPE", message: "not here", details: [] } },
    });
    const crash = await call(event(JSON.stringify({ fileName: "crash", mode: "append" })));
    expect(crash.status).toBe(500);
    expect(JSON.stringify(crash.body)).not.toContain("C0000448");
  });

  it("refuses numbers DynamoDB cannot hold with 400 naming each, and takes the smallest and largest it can", async () => {
    const res = await call(
      event('{"fileName":"a.csv","mode":"append","n":[1,5e-324,{"m":9007199254740992}],"k":-1e-131}'),
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.details.map((d: { path: string; code: string }) => [d.path, d.code])).toEqual([
      ["body.n.1", "out_of_range"],
      ["body.n.2.m", "out_of_range"],
      ["body.k", "out_of_range"],
    ]);
    const edges = await call(
      event('{"fileName":"a.csv","mode":"append","n":[0,-0,1e-130,-9007199254740991,0.1]}'),
    );
    expect(edges.status).toBe(201);
  });

  it("ignores a body sent with a GET or DELETE, which has no meaning there", async () => {
    const res = (await handler(
      event("{not json", {
        routeKey: "DELETE /datasets/{datasetId}/definitions/{segmentId}",
        headers: { "content-type": "text/plain" },
      }),
      {} as Context,
    )) as APIGatewayProxyStructuredResultV2;
    // 418 is what the other routes' cores answer here: the core ran, the body was not parsed.
    expect(res.statusCode).toBe(418);
  });

  it("answers a route the function does not serve with 404", async () => {
    const res = await call(event(undefined, { routeKey: "GET /datasets/{datasetId}/segments" }));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("ROUTE_NOT_FOUND");
  });
});
