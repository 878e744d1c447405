/** The app's context settings: defaults, values as the CLI passes them, and refusal of bad values. */
import { describe, expect, it } from "vitest";
import { ContextError, parseAppConfig } from "../../infra/config";

const from = (context: Record<string, unknown>) => (key: string) => context[key];

function errorOf(context: Record<string, unknown>): ContextError {
  try {
    parseAppConfig(from(context));
  } catch (error) {
    if (error instanceof ContextError) return error;
    throw error;
  }
  throw new Error("expected a ContextError");
}

describe("parseAppConfig", () => {
  it("defaults to a retained dev stage", () => {
    expect(parseAppConfig(from({}))).toEqual({
      stage: "dev",
      destroyOnRemoval: false,
      logLevel: "INFO",
      logRetentionDays: 30,
      corsOrigins: [],
      site: true,
      apiRateLimit: 50,
      apiBurstLimit: 100,
      computeReservedConcurrency: 5,
      refreshReservedConcurrency: 1,
      shardThresholdMb: 256,
      shardMaxConcurrency: 20,
      // No bucket outside the stack may be written until the deployment names one.
      destinationBuckets: [],
      deliveryReservedConcurrency: 5,
      scopePrefix: "segmentation",
      authCallbackUrls: ["http://localhost:8080/callback"],
      defaultTenant: "default",
    });
  });

  it("reads `-c key=value` strings as the types they stand for", () => {
    const config = parseAppConfig(
      from({
        destroyOnRemoval: "true",
        logRetentionDays: "14",
        apiRateLimit: "20",
        corsOrigins: "https://app.example.com, https://crm.example.com",
      }),
    );
    expect(config).toMatchObject({
      destroyOnRemoval: true,
      logRetentionDays: 14,
      apiRateLimit: 20,
      corsOrigins: ["https://app.example.com", "https://crm.example.com"],
    });
  });

  it("names the key and the rule of a malformed stage", () => {
    const error = errorOf({ stage: "Prod_1" });
    expect(error.code).toBe("INVALID_CONTEXT");
    expect(error.issues).toEqual([{ key: "stage", message: expect.stringContaining("lower-case") }]);
    expect(error.message).toContain("stage:");
  });

  it("refuses a flag that is neither true nor false", () => {
    expect(errorOf({ destroyOnRemoval: "maybe" }).issues).toEqual([
      { key: "destroyOnRemoval", message: "must be true or false" },
    ]);
  });

  it("refuses destroyOnRemoval on the prod stage", () => {
    expect(errorOf({ stage: "prod", destroyOnRemoval: true }).issues.map((i) => i.key)).toEqual([
      "destroyOnRemoval",
    ]);
  });

  it("refuses a retention period CloudWatch Logs does not offer, and a non-URL origin", () => {
    expect(
      errorOf({ logRetentionDays: 10, corsOrigins: "app.example.com" })
        .issues.map((i) => i.key)
        .sort(),
    ).toEqual(["corsOrigins.0", "logRetentionDays"]);
  });

  it("reads an OIDC issuer with a comma-separated audience", () => {
    expect(
      parseAppConfig(
        from({ oidcIssuer: "https://login.example.com/t1/", oidcAudience: " api://segments, crm ," }),
      ),
    ).toMatchObject({ oidcIssuer: "https://login.example.com/t1/", oidcAudience: ["api://segments", "crm"] });
  });

  it("refuses an OIDC issuer without an audience, or over plain http", () => {
    expect(errorOf({ oidcIssuer: "https://login.example.com/" }).issues).toEqual([
      { key: "oidcAudience", message: "oidcIssuer and oidcAudience are set together or not at all" },
    ]);
    expect(errorOf({ oidcIssuer: "http://login.example.com/", oidcAudience: "a" }).issues).toEqual([
      { key: "oidcIssuer", message: "must be an https URL" },
    ]);
  });

  it("refuses a Cognito domain prefix with a reserved word, and a plain-http callback off localhost", () => {
    expect(
      errorOf({ authDomainPrefix: "my-cognito-login", authCallbackUrls: "http://app.example.com/cb" })
        .issues.map((i) => i.key)
        .sort(),
    ).toEqual(["authCallbackUrls.0", "authDomainPrefix"]);
    expect(
      parseAppConfig(from({ authCallbackUrls: "https://app.example.com/cb,http://127.0.0.1:9000/cb" }))
        .authCallbackUrls,
    ).toEqual(["https://app.example.com/cb", "http://127.0.0.1:9000/cb"]);
  });

  it("refuses a default tenant the handlers would not accept", () => {
    expect(errorOf({ defaultTenant: "acme corp" }).issues.map((i) => i.key)).toEqual(["defaultTenant"]);
  });
});
