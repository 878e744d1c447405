/**
 * Access control inside the API functions, behind API Gateway's JWT authorizer. The gateway has already
 * verified the token's signature, issuer, audience and expiry and checked the route's scope; the handler
 * checks the scope again from the claims the gateway passes on (so a route wired without its scope, or an
 * authorizer changed by hand, still refuses the call) and takes the caller's tenant from them.
 *
 * What the gateway hands over (payload format 2.0): `requestContext.authorizer.jwt.claims`, every claim as
 * a string (array claims flattened to "[a b c]"), and `requestContext.authorizer.jwt.scopes`.
 *
 * Rules:
 * - A route whose scope is null (health) needs nothing and acts for the default tenant.
 * - Any other route needs a verified token (401 UNAUTHORIZED without one) carrying exactly
 *   `<scopePrefix>/<route scope>` in its `scope` claim (space-separated) or `scp` claim (array), else
 *   403 FORBIDDEN. There is no hierarchy: `admin` does not imply `write`, as at the gateway.
 * - The tenant is the `tenant` or `custom:tenant` claim; a token carrying both with different values, or a
 *   value that is not a tenant id, is refused (403 INVALID_TENANT). Without either claim the call acts for
 *   the deployment's default tenant, unless `requireTenantClaim` is set (403 TENANT_REQUIRED), which a
 *   multi-tenant deployment sets so that a token minted without a tenant cannot land in a shared one.
 *
 * Every table key and object key starts with the tenant, so the tenant chosen here bounds everything the
 * request can address.
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { AppError, type ErrorDetail } from "../errors";
import type { Scope } from "../routes";

/** Tenant ids: they become part of table keys and object keys, so no separators or path characters. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Claims that name the caller's tenant; Cognito shows a custom user attribute as `custom:<name>`. */
export const TENANT_CLAIMS = ["tenant", "custom:tenant"] as const;

export interface AuthOptions {
  /** Tenant of calls whose token carries no tenant claim, and of public routes. */
  defaultTenant: string;
  /** Scopes are `<scopePrefix>/read`, `/write` and `/admin`. */
  scopePrefix: string;
  /** Refuses tokens without a tenant claim instead of giving them the default tenant. */
  requireTenantClaim: boolean;
}

export class UnauthorizedError extends AppError {
  constructor() {
    super(401, "UNAUTHORIZED", "The request carries no verified token");
  }
}

export class ForbiddenError extends AppError {
  constructor(code: string, message: string, details: ErrorDetail[] = []) {
    super(403, code, message, details);
  }
}

/** The verified token as API Gateway's JWT authorizer passes it to the function. */
export interface JwtContext {
  claims: Record<string, unknown>;
  scopes: readonly string[] | null;
}

/** The JWT authorizer's context of an event, or undefined when the request passed no JWT authorizer. */
export function jwtContext(event: Pick<APIGatewayProxyEventV2, "requestContext">): JwtContext | undefined {
  const context = event.requestContext as
    | { authorizer?: { jwt?: { claims?: unknown; scopes?: unknown } } }
    | undefined;
  const jwt = context?.authorizer?.jwt;
  if (!jwt || typeof jwt.claims !== "object" || jwt.claims === null || Array.isArray(jwt.claims)) {
    return undefined;
  }
  const scopes = Array.isArray(jwt.scopes)
    ? jwt.scopes.filter((s): s is string => typeof s === "string")
    : null;
  return { claims: jwt.claims as Record<string, unknown>, scopes };
}

/**
 * The scopes in one claim value: a space-separated string (`scope`, RFC 8693), an array (`scp`), or an
 * array as API Gateway flattens it into a string, "[a b c]" (or JSON, as some issuers' proxies write it).
 */
export function splitScopeClaim(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === "string" && s !== "");
  if (typeof value !== "string") return [];
  const text = value.trim();
  if (text.startsWith("[") && text.endsWith("]")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return splitScopeClaim(parsed);
    } catch {
      // Not JSON: API Gateway's "[a b c]".
    }
    return splitScopeClaim(text.slice(1, -1));
  }
  return text.split(/\s+/).filter((s) => s !== "");
}

/** Every scope the token carries, from its `scope` and `scp` claims and the authorizer's scope list. */
export function tokenScopes(jwt: JwtContext): Set<string> {
  return new Set([
    ...splitScopeClaim(jwt.claims.scope),
    ...splitScopeClaim(jwt.claims.scp),
    ...(jwt.scopes ?? []),
  ]);
}

/** The scope string a token needs for a route of `scope`, e.g. "segmentation/read". */
export function scopeName(prefix: string, scope: Scope): string {
  return `${prefix}/${scope}`;
}

/**
 * The tenant a token names, undefined when it names none. Throws INVALID_TENANT for a claim that is not a
 * tenant id or for two claims that disagree.
 */
export function tenantClaim(claims: Record<string, unknown>): string | undefined {
  const values = new Set<string>();
  for (const name of TENANT_CLAIMS) {
    const value = claims[name];
    if (value === undefined || value === null || value === "") continue;
    if (typeof value !== "string" || !TENANT_ID_PATTERN.test(value)) {
      throw new ForbiddenError("INVALID_TENANT", "The token's tenant claim is not a valid tenant id", [
        { path: `token.${name}`, code: "INVALID_TENANT", message: "letters, digits, '_' and '-', 1 to 64" },
      ]);
    }
    values.add(value);
  }
  if (values.size > 1) {
    throw new ForbiddenError("INVALID_TENANT", "The token names more than one tenant", [
      { path: "token.tenant", code: "INVALID_TENANT", message: "tenant and custom:tenant differ" },
    ]);
  }
  return values.values().next().value;
}

/**
 * Checks a request against its route's scope and returns the tenant it acts for; throws 401 or 403 as the
 * rules above say.
 */
export function authorize(
  route: { scope: Scope | null },
  event: Pick<APIGatewayProxyEventV2, "requestContext">,
  options: AuthOptions,
): { tenantId: string } {
  if (route.scope === null) return { tenantId: options.defaultTenant };
  const jwt = jwtContext(event);
  if (!jwt) throw new UnauthorizedError();
  const needed = scopeName(options.scopePrefix, route.scope);
  if (!tokenScopes(jwt).has(needed)) {
    throw new ForbiddenError("FORBIDDEN", "The token does not carry the scope this route needs", [
      { path: "token.scope", code: "MISSING_SCOPE", message: `needs ${needed}` },
    ]);
  }
  const tenant = tenantClaim(jwt.claims);
  if (tenant !== undefined) return { tenantId: tenant };
  if (options.requireTenantClaim) {
    throw new ForbiddenError("TENANT_REQUIRED", "The token carries no tenant claim", [
      { path: "token.tenant", code: "TENANT_REQUIRED", message: "needs a tenant or custom:tenant claim" },
    ]);
  }
  return { tenantId: options.defaultTenant };
}
