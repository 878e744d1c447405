/**
 * Access control in the API functions (shared/http/auth.ts): scopes from the claims API Gateway passes on,
 * exactly one scope per route, the tenant claim, REQUIRE_TENANT_CLAIM, and the handler refusing a call
 * before its core reads anything. Expected outcomes are written out by hand from the rules in auth.ts.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../shared/config";
import { type ApiRequest, apiHandler } from "../../shared/http/api";
import {
  type AuthOptions,
  authorize,
  parseScopeClaim,
  parseScpClaim,
  TENANT_ID_PATTERN,
  tenantClaim,
  tokenScopes,
} from "../../shared/http/auth";
import { ROUTES, type Scope } from "../../shared/routes";
import { customerPk, datasetPk, objectKeys, registrySk } from "../../shared/store/keys";

const OPTIONS: AuthOptions = {
  defaultTenant: "demo",
  scopePrefix: "segmentation",
  requireTenantClaim: false,
};

/** An event as API Gateway hands it over after its JWT authorizer accepted a token with these claims. */
function withClaims(claims: Record<string, unknown> | undefined, scopes: string[] | null = null) {
  return {
    requestContext: {
      requestId: "r",
      ...(claims === undefined ? {} : { authorizer: { jwt: { claims, scopes } } }),
    },
  } as unknown as APIGatewayProxyEventV2;
}

function outcome(fn: () => unknown): { status: number; code: string } | "ok" {
  try {
    fn();
    return "ok";
  } catch (error) {
    const e = error as { status: number; code: string };
    return { status: e.status, code: e.code };
  }
}

describe("scope claims (RFC 6749 §3.3)", () => {
  it("reads a scope string of tokens separated by single spaces, and an scp array of tokens", () => {
    expect(parseScopeClaim("segmentation/read segmentation/write")).toEqual([
      "segmentation/read",
      "segmentation/write",
    ]);
    expect(parseScopeClaim("a")).toEqual(["a"]);
    expect(parseScpClaim(["a", "b"])).toEqual(["a", "b"]);
  });

  it("reads a bracketed list as one literal token, never as the scopes inside it", () => {
    expect(parseScopeClaim("[segmentation/admin]")).toEqual(["[segmentation/admin]"]);
    expect(parseScopeClaim("[segmentation/read segmentation/admin]")).toEqual([
      "[segmentation/read",
      "segmentation/admin]",
    ]);
  });

  it("finds no scope in a malformed scope claim", () => {
    for (const claim of [
      '["segmentation/admin"]',
      "segmentation/read\u00a0segmentation/admin",
      "segmentation/read\tsegmentation/admin",
      "segmentation/read  segmentation/admin",
      " segmentation/admin",
      "segmentation/admin ",
      "segmentation/admin\n",
      'segmentation/"admin"',
      "segmentation\\admin",
      "segmentation/ädmin",
      "",
      undefined,
      42,
      ["segmentation/admin"],
      { read: true },
    ]) {
      expect(parseScopeClaim(claim), JSON.stringify(claim)).toEqual([]);
    }
  });

  it("finds no scope in an scp claim that is not an array of scope tokens", () => {
    for (const claim of [
      "segmentation/admin",
      "[segmentation/admin]",
      [],
      [1],
      ["a", null],
      ["a b"],
      [""],
      {},
    ]) {
      expect(parseScpClaim(claim), JSON.stringify(claim)).toEqual([]);
    }
  });

  it("property: a scope string grants exactly its space-separated tokens, or nothing if any is malformed", () => {
    const tokenChar = fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x22 && c !== 0x5c);
    const token = fc.array(tokenChar, { minLength: 1, maxLength: 8 }).map((cs) => String.fromCharCode(...cs));
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 5 }), (tokens) => {
        expect(parseScopeClaim(tokens.join(" "))).toEqual(tokens);
      }),
    );
    // Any other character anywhere (whitespace of any kind, quotes, backslash, non-ASCII, control) spoils it.
    const bad = fc.oneof(
      fc.constantFrom("\t", "\n", "\r", "\u00a0", "\u2003", "\u3000", '"', "\\", "\u0000", "é", "  "),
      fc.integer({ min: 0x7f, max: 0xffff }).map((c) => String.fromCharCode(c)),
    );
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 4 }), bad, fc.nat(), (tokens, b, at) => {
        const text = tokens.join(" ");
        const i = at % (text.length + 1);
        expect(parseScopeClaim(text.slice(0, i) + b + text.slice(i))).toEqual([]);
      }),
    );
  });

  it("takes the authorizer's list only where the scp claim is an array holding the same scope", () => {
    // API Gateway flattens an scp array ["c", "d"] into the string "[c d]" and lists its scopes.
    const scopes = tokenScopes({ claims: { scope: "a b", scp: "[c d]" }, scopes: ["a", "b", "c", "d", "e"] });
    expect([...scopes].sort()).toEqual(["a", "b", "c", "d"]);
    // A malformed scope claim that a lenient authorizer split into scopes grants nothing through the list.
    const nbsp = tokenScopes({
      claims: { scope: "segmentation/read\u00a0segmentation/admin" },
      scopes: ["segmentation/read", "segmentation/admin"],
    });
    expect([...nbsp]).toEqual([]);
  });
});

describe("authorize: scopes", () => {
  const route = (scope: Scope | null) => ({ scope });

  it("lets a public route through without a token, for the default tenant", () => {
    expect(authorize(route(null), withClaims(undefined), OPTIONS)).toEqual({ tenantId: "demo" });
  });

  it("answers 401 for a protected route that reached the function without a verified token", () => {
    for (const scope of ["read", "write", "admin"] as const) {
      expect(outcome(() => authorize(route(scope), withClaims(undefined), OPTIONS))).toEqual({
        status: 401,
        code: "UNAUTHORIZED",
      });
    }
  });

  it("accepts exactly the route's own scope: admin implies neither write nor read", () => {
    // Rows: the one scope the token holds; columns: the scope the route needs. Only the diagonal passes.
    const table: Record<Scope, Record<Scope, boolean>> = {
      read: { read: true, write: false, admin: false },
      write: { read: false, write: true, admin: false },
      admin: { read: false, write: false, admin: true },
    };
    for (const [held, row] of Object.entries(table)) {
      for (const [needed, passes] of Object.entries(row)) {
        const result = outcome(() =>
          authorize(route(needed as Scope), withClaims({ scope: `segmentation/${held}` }), OPTIONS),
        );
        expect(result, `${held} on a ${needed} route`).toEqual(
          passes ? "ok" : { status: 403, code: "FORBIDDEN" },
        );
      }
    }
  });

  it("matches whole scope names with the configured prefix only", () => {
    const read = route("read");
    for (const scope of ["segmentation/readonly", "xsegmentation/read", "read", "other/read", ""]) {
      expect(
        outcome(() => authorize(read, withClaims({ scope }), OPTIONS)),
        scope,
      ).toEqual({
        status: 403,
        code: "FORBIDDEN",
      });
    }
    const custom = { ...OPTIONS, scopePrefix: "api://segments" };
    expect(outcome(() => authorize(read, withClaims({ scope: "api://segments/read" }), custom))).toBe("ok");
    expect(outcome(() => authorize(read, withClaims({ scope: "segmentation/read" }), custom))).toEqual({
      status: 403,
      code: "FORBIDDEN",
    });
  });

  it("finds the scope in scp only as an array (as API Gateway passes it: flattened, and in its list)", () => {
    const write = route("write");
    const scp = ["segmentation/read", "segmentation/write"];
    expect(outcome(() => authorize(write, withClaims({ scp: `[${scp.join(" ")}]` }, scp), OPTIONS))).toBe(
      "ok",
    );
    // The list alone, or the flattened text alone, is not an scp array.
    for (const event of [
      withClaims({}, ["segmentation/write"]),
      withClaims({ scp: "[segmentation/write]" }),
    ]) {
      expect(outcome(() => authorize(write, event, OPTIONS))).toEqual({ status: 403, code: "FORBIDDEN" });
    }
  });

  it("refuses every malformed scope claim, and their kin", () => {
    const admin = route("admin");
    for (const scope of [
      "[segmentation/admin]",
      '["segmentation/admin"]',
      "segmentation/read\u00a0segmentation/admin",
      "segmentation/read\tsegmentation/admin",
      "segmentation/read  segmentation/admin",
    ]) {
      const lenientList = scope.split(/[\s\u00a0]+/).map((s) => s.replace(/[[\]"]/g, ""));
      for (const event of [withClaims({ scope }), withClaims({ scope }, lenientList)]) {
        expect(
          outcome(() => authorize(admin, event, OPTIONS)),
          scope,
        ).toEqual({ status: 403, code: "FORBIDDEN" });
      }
    }
  });

  it("names the scope a refused token lacks", () => {
    try {
      authorize(route("admin"), withClaims({ scope: "segmentation/read" }), OPTIONS);
      expect.unreachable();
    } catch (error) {
      expect((error as { details: unknown }).details).toEqual([
        { path: "token.scope", code: "MISSING_SCOPE", message: "needs segmentation/admin" },
      ]);
    }
  });
});

describe("authorize: tenant", () => {
  const read = { scope: "read" as const };
  const claims = (extra: Record<string, unknown>) => withClaims({ scope: "segmentation/read", ...extra });

  it("takes the tenant from the tenant or custom:tenant claim, else the default tenant", () => {
    expect(authorize(read, claims({ tenant: "acme" }), OPTIONS)).toEqual({ tenantId: "acme" });
    expect(authorize(read, claims({ "custom:tenant": "acme" }), OPTIONS)).toEqual({ tenantId: "acme" });
    expect(authorize(read, claims({ tenant: "acme", "custom:tenant": "acme" }), OPTIONS)).toEqual({
      tenantId: "acme",
    });
    expect(authorize(read, claims({}), OPTIONS)).toEqual({ tenantId: "demo" });
    expect(authorize(read, claims({ tenant: "" }), OPTIONS)).toEqual({ tenantId: "demo" });
  });

  it("refuses two tenant claims that disagree and a tenant that is not a tenant id", () => {
    const refused = { status: 403, code: "INVALID_TENANT" };
    expect(outcome(() => authorize(read, claims({ tenant: "a", "custom:tenant": "b" }), OPTIONS))).toEqual(
      refused,
    );
    // A '#' would let a tenant id reach into another tenant's keys: "demo#D#shop" is demo's dataset "shop".
    for (const tenant of ["demo#D#shop", "a/b", "x".repeat(65), "ü", " demo"]) {
      expect(
        outcome(() => authorize(read, claims({ tenant }), OPTIONS)),
        tenant,
      ).toEqual(refused);
    }
    expect(outcome(() => tenantClaim({ tenant: 7 }))).toEqual(refused);
  });

  it("with requireTenantClaim, refuses a token without a tenant claim and accepts one with it", () => {
    const strict = { ...OPTIONS, requireTenantClaim: true };
    expect(outcome(() => authorize(read, claims({}), strict))).toEqual({
      status: 403,
      code: "TENANT_REQUIRED",
    });
    expect(authorize(read, claims({ "custom:tenant": "acme" }), strict)).toEqual({ tenantId: "acme" });
    // Public routes carry no token at all.
    expect(authorize({ scope: null }, withClaims(undefined), strict)).toEqual({ tenantId: "demo" });
  });

  it("checks the scope before the tenant", () => {
    const strict = { ...OPTIONS, requireTenantClaim: true };
    expect(outcome(() => authorize(read, withClaims({ scope: "segmentation/write" }), strict))).toEqual({
      status: 403,
      code: "FORBIDDEN",
    });
  });
});

describe("tenant ids and keys", () => {
  const tenantId = fc.stringMatching(TENANT_ID_PATTERN);
  const datasetId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);

  it("keys of one tenant never start with another tenant's prefix", () => {
    // Every item of tenant b has a partition key starting "T#b#", and its registry entries start "b#".
    fc.assert(
      fc.property(tenantId, tenantId, datasetId, fc.string(), (a, b, dataset, id) => {
        fc.pre(a !== b);
        for (const key of [datasetPk(a, dataset), customerPk(a, dataset, id)])
          expect(key.startsWith(`T#${b}#`), `${key} vs ${b}`).toBe(false);
        // A segment's members are objects under the tenant's own state prefix.
        for (const key of [objectKeys.memberPage(a, dataset, 1, id), objectKeys.memberIndex(a, dataset, 1)])
          expect(key.startsWith(`state/${a}/${dataset}/`), `${key} vs ${a}`).toBe(true);
        expect(registrySk(a, dataset).startsWith(`${b}#`)).toBe(false);
      }),
    );
  });
});

describe("apiHandler enforcement", () => {
  const seen: ApiRequest[] = [];
  const cores = Object.fromEntries(
    ROUTES.filter((r) => r.fn === "readApi").map((r) => [
      r.id,
      async (req: ApiRequest) => {
        seen.push(req);
        return { status: 200, body: { tenant: req.tenantId } };
      },
    ]),
  );
  const strict = apiHandler("readApi", cores, { ...OPTIONS, requireTenantClaim: true });
  const lenient = apiHandler("readApi", cores, OPTIONS);

  async function call(
    handler: typeof strict,
    routeKey: string,
    claims: Record<string, unknown> | undefined,
    body?: string,
  ) {
    const event = {
      ...withClaims(claims),
      version: "2.0",
      routeKey,
      rawPath: "/",
      rawQueryString: "",
      headers: { "content-type": "application/json" },
      isBase64Encoded: false,
      ...(body === undefined ? {} : { body }),
    } as APIGatewayProxyEventV2;
    const res = (await handler(event, {} as Context)) as APIGatewayProxyStructuredResultV2;
    return { status: res.statusCode, body: JSON.parse(res.body ?? "{}") };
  }

  it("refuses before the core runs or the body is read, with the error shape of every error", async () => {
    seen.length = 0;
    const key = "GET /datasets/{datasetId}/segments";
    const none = await call(lenient, key, undefined, "{not json");
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("UNAUTHORIZED");
    const wrong = await call(lenient, key, { scope: "segmentation/write", tenant: "acme" }, "{not json");
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe("FORBIDDEN");
    const noTenant = await call(strict, key, { scope: "segmentation/read" });
    expect(noTenant).toMatchObject({ status: 403, body: { error: { code: "TENANT_REQUIRED" } } });
    expect(seen).toHaveLength(0);
  });

  it("gives the core the token's tenant, and the default tenant to public routes", async () => {
    const ok = await call(strict, "GET /datasets/{datasetId}/segments", {
      scope: "segmentation/read",
      tenant: "acme",
    });
    expect(ok).toEqual({ status: 200, body: { tenant: "acme" } });
    const health = await call(strict, "GET /health", undefined);
    expect(health).toEqual({ status: 200, body: { tenant: "demo" } });
  });
});

describe("configuration", () => {
  const base = { TABLE_NAME: "t", BUCKET_NAME: "b" };

  it("defaults to the segmentation scope prefix and no required tenant claim", () => {
    const config = parseConfig(base);
    expect(config.SCOPE_PREFIX).toBe("segmentation");
    expect(config.REQUIRE_TENANT_CLAIM).toBe(false);
  });

  it("reads REQUIRE_TENANT_CLAIM as true or false and names it when it is neither", () => {
    expect(parseConfig({ ...base, REQUIRE_TENANT_CLAIM: "true" }).REQUIRE_TENANT_CLAIM).toBe(true);
    expect(parseConfig({ ...base, REQUIRE_TENANT_CLAIM: "false" }).REQUIRE_TENANT_CLAIM).toBe(false);
    expect(() => parseConfig({ ...base, REQUIRE_TENANT_CLAIM: "yes" })).toThrow(/REQUIRE_TENANT_CLAIM/);
    expect(parseConfig({ ...base, SCOPE_PREFIX: "api://segments" }).SCOPE_PREFIX).toBe("api://segments");
  });
});
