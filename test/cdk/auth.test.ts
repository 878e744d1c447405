/**
 * Authentication and authorization in the synthesized stack: the Cognito user pool the stack creates by
 * default (scopes, tenant attribute, clients, sign-in policy), the JWT authorizer, the scope each route of
 * the route table requires, and the alternative of an existing OIDC issuer.
 */
import { Match } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CognitoResources } from "../../infra/constructs/auth";
import { ROUTES, routeKey } from "../../shared/routes";
import { logicalId, ref, removeOutdirs, resourcesOfType, type Synthesized, synth } from "./synth";

/** Default context: the stack creates its own user pool. */
let pool: Synthesized;
/** An existing issuer, with a scope prefix and a default tenant of its own. */
let oidc: Synthesized;
const OIDC = {
  oidcIssuer: "https://login.example.com/tenants/t1/",
  oidcAudience: "api://segments, crm-connector",
  scopePrefix: "api://segments",
  defaultTenant: "acme",
};

beforeAll(() => {
  // Authorization does not depend on function code: no bundling.
  pool = synth({}, { bundling: false });
  oidc = synth(OIDC, { bundling: false });
});
afterAll(removeOutdirs);

type Props = Record<string, unknown>;
const routeProps = (sx: Synthesized, key: string): Props | undefined =>
  Object.values(resourcesOfType(sx.template, "AWS::ApiGatewayV2::Route")).find(
    (r) => r.Properties?.RouteKey === key,
  )?.Properties;
const onlyAuthorizerId = (sx: Synthesized): string => {
  const ids = Object.keys(resourcesOfType(sx.template, "AWS::ApiGatewayV2::Authorizer"));
  expect(ids.length).toBe(1);
  return ids[0] as string;
};

function cognitoOf(sx: Synthesized): CognitoResources {
  const cognito = sx.stack.auth.cognito;
  if (!cognito) throw new Error("expected the stack's own user pool");
  return cognito;
}
/** The CloudFormation value of the resource server scope `<identifier>/<name>`. */
const serverScope = (sx: Synthesized, name: string) => ({
  "Fn::Join": ["", [ref(logicalId(sx, cognitoOf(sx).resourceServer)), `/${name}`]],
});

describe("routes", () => {
  it("requires a JWT with the route's own scope on every route of the table that has a scope", () => {
    for (const [sx, prefix] of [
      [pool, "segmentation"],
      [oidc, "api://segments"],
    ] as const) {
      const authorizerId = onlyAuthorizerId(sx);
      for (const route of ROUTES.filter((r) => r.scope !== null)) {
        expect(routeProps(sx, routeKey(route)), `${prefix} ${route.id}`).toMatchObject({
          AuthorizationType: "JWT",
          AuthorizerId: ref(authorizerId),
          AuthorizationScopes: [`${prefix}/${route.scope}`],
        });
      }
    }
  });

  it("asks uploads for the write scope and lookups for the read scope", () => {
    // Spelled out by hand for two routes, independently of the route table's scope field.
    expect(routeProps(pool, "POST /datasets/{datasetId}/uploads")?.AuthorizationScopes).toEqual([
      "segmentation/write",
    ]);
    expect(routeProps(pool, "GET /datasets/{datasetId}/customers/{customerId}")?.AuthorizationScopes).toEqual(
      ["segmentation/read"],
    );
  });

  it("leaves the public routes (health) without authorization", () => {
    const publicRoutes = ROUTES.filter((r) => r.scope === null);
    expect(publicRoutes.map((r) => routeKey(r))).toContain("GET /health");
    for (const route of publicRoutes) {
      const props = routeProps(pool, routeKey(route));
      expect(props?.AuthorizationType, route.id).toBe("NONE");
      expect(props?.AuthorizerId, route.id).toBeUndefined();
      expect(props?.AuthorizationScopes, route.id).toBeUndefined();
    }
  });
});

describe("Cognito user pool (default)", () => {
  it("defines the read, write and admin scopes on a resource server named by scopePrefix", () => {
    const servers = Object.values(resourcesOfType(pool.template, "AWS::Cognito::UserPoolResourceServer"));
    expect(servers.length).toBe(1);
    expect(servers[0]?.Properties?.Identifier).toBe("segmentation");
    const scopes = (servers[0]?.Properties?.Scopes ?? []) as Array<{ ScopeName: string }>;
    const names = scopes.map((s) => s.ScopeName);
    expect(names.sort()).toEqual(["admin", "read", "write"]);
  });

  it("keeps each user's tenant in an immutable custom attribute that no app client may write", () => {
    pool.template.hasResourceProperties("AWS::Cognito::UserPool", {
      Schema: Match.arrayWith([
        Match.objectLike({ Name: "tenant", AttributeDataType: "String", Mutable: false }),
      ]),
    });
    const clients = Object.values(resourcesOfType(pool.template, "AWS::Cognito::UserPoolClient"));
    expect(clients.length).toBe(2);
    for (const client of clients) {
      // Left out, WriteAttributes would let a client write every attribute.
      expect(client.Properties?.WriteAttributes).toEqual(["email"]);
    }
  });

  it("lets only administrators create users, and requires an authenticator app and a strong password", () => {
    pool.template.hasResourceProperties("AWS::Cognito::UserPool", {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: "ON",
      EnabledMfas: ["SOFTWARE_TOKEN_MFA"],
      Policies: {
        PasswordPolicy: Match.objectLike({
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        }),
      },
    });
  });

  it("gives machines a secret client-credentials client with every scope", () => {
    const scope = (name: string) => serverScope(pool, name);
    const client = resourcesOfType(pool.template, "AWS::Cognito::UserPoolClient")[
      logicalId(pool, cognitoOf(pool).machineClient)
    ];
    expect(client?.Properties).toMatchObject({
      GenerateSecret: true,
      AllowedOAuthFlows: ["client_credentials"],
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthScopes: [scope("read"), scope("write"), scope("admin")],
    });
  });

  it("gives people a public authorization-code client with read and write, but not admin", () => {
    const scope = (name: string) => serverScope(pool, name);
    const client = resourcesOfType(pool.template, "AWS::Cognito::UserPoolClient")[
      logicalId(pool, cognitoOf(pool).userClient)
    ];
    expect(client?.Properties).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlows: ["code"],
      CallbackURLs: ["http://localhost:8080/callback"],
      AllowedOAuthScopes: ["openid", "email", scope("read"), scope("write")],
    });
  });

  it("serves tokens from a Cognito domain unique to the stage and account", () => {
    pool.template.hasResourceProperties("AWS::Cognito::UserPoolDomain", {
      Domain: { "Fn::Join": ["", ["segmentation-dev-", { Ref: "AWS::AccountId" }]] },
      UserPoolId: ref(logicalId(pool, cognitoOf(pool).userPool)),
    });
    pool.template.hasOutput("TokenEndpoint", {
      Value: { "Fn::Join": ["", Match.arrayWith([".amazoncognito.com/oauth2/token"])] },
    });
  });

  it("accepts tokens whose issuer is the pool and whose audience is one of its two clients", () => {
    const cognito = cognitoOf(pool);
    const poolId = logicalId(pool, cognito.userPool);
    const authorizer = resourcesOfType(pool.template, "AWS::ApiGatewayV2::Authorizer")[
      onlyAuthorizerId(pool)
    ];
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: "JWT",
      IdentitySource: ["$request.header.Authorization"],
      JwtConfiguration: {
        Issuer: {
          "Fn::Join": ["", ["https://cognito-idp.", { Ref: "AWS::Region" }, ".amazonaws.com/", ref(poolId)]],
        },
        Audience: [ref(logicalId(pool, cognito.machineClient)), ref(logicalId(pool, cognito.userClient))],
      },
    });
  });

  it("retains the pool and protects it from deletion, unless destroyOnRemoval is set", () => {
    const pools = resourcesOfType(pool.template, "AWS::Cognito::UserPool");
    expect(Object.values(pools).map((p) => [p.DeletionPolicy, p.Properties?.DeletionProtection])).toEqual([
      ["Retain", "ACTIVE"],
    ]);
    const dev = synth({ destroyOnRemoval: "true" }, { bundling: false });
    const devPools = resourcesOfType(dev.template, "AWS::Cognito::UserPool");
    expect(Object.values(devPools).map((p) => [p.DeletionPolicy, p.Properties?.DeletionProtection])).toEqual([
      ["Delete", "INACTIVE"],
    ]);
  });
});

describe("existing OIDC issuer (oidcIssuer, oidcAudience)", () => {
  it("creates no Cognito resources", () => {
    const cognitoTypes = Object.values(oidc.template.toJSON().Resources as Record<string, { Type: string }>)
      .map((r) => r.Type)
      .filter((t) => t.startsWith("AWS::Cognito::"));
    expect(cognitoTypes).toEqual([]);
    expect(oidc.stack.auth.cognito).toBeUndefined();
  });

  it("accepts tokens of the given issuer for the given audiences", () => {
    const authorizer = resourcesOfType(oidc.template, "AWS::ApiGatewayV2::Authorizer")[
      onlyAuthorizerId(oidc)
    ];
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: "JWT",
      JwtConfiguration: {
        Issuer: "https://login.example.com/tenants/t1/",
        Audience: ["api://segments", "crm-connector"],
      },
    });
    oidc.template.hasOutput("TokenIssuer", { Value: "https://login.example.com/tenants/t1/" });
  });
});

describe("tenant of tokens without a tenant claim", () => {
  it("is defaultTenant, given to the HTTP functions only", () => {
    for (const [sx, tenant] of [
      [pool, "default"],
      [oidc, "acme"],
    ] as const) {
      for (const [name, fn] of Object.entries(sx.stack.functions)) {
        const env = (sx.template.toJSON().Resources[fn.logicalId].Properties.Environment?.Variables ??
          {}) as Props;
        expect(env.DEFAULT_TENANT, name).toBe(name in sx.stack.api.functions ? tenant : undefined);
      }
    }
  });
});

describe("scope prefix the handlers check", () => {
  it("is the stack's scopePrefix, given to the HTTP functions only", () => {
    for (const [sx, prefix] of [
      [pool, "segmentation"],
      [oidc, OIDC.scopePrefix],
    ] as const) {
      for (const [name, fn] of Object.entries(sx.stack.functions)) {
        const env = (sx.template.toJSON().Resources[fn.logicalId].Properties.Environment?.Variables ??
          {}) as Props;
        expect(env.SCOPE_PREFIX, name).toBe(name in sx.stack.api.functions ? prefix : undefined);
      }
    }
  });
});
