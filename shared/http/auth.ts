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
 *   `<scopePrefix>/<route scope>` in its `scope` claim (scope tokens separated by single spaces, RFC 6749
 *   §3.3) or `scp` claim (an array of strings), else 403 FORBIDDEN. Nothing else grants a scope. There is no hierarchy: `admin` does not imply `write`, as at the gateway.
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
 * RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, printable ASCII without space, '"' and '\\'.
 */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * The scopes of a `scope` claim: a string of scope tokens separated by single spaces (RFC 6749 §3.3). A
 * claim of any other shape (not a string, empty, leading, trailing or doubled spaces, tabs, no-break spaces,
 * characters outside the scope-token set, JSON or bracketed lists) is malformed and grants nothing.
 */
export function parseScopeClaim(value: unknown): string[] {
  if (typeof value !== "string" || value === "") return [];
  const tokens = value.split(" ");
  return tokens.every((token) => SCOPE_TOKEN.test(token)) ? tokens : [];
}

/**
 * The scopes of an `scp` claim: an array of scope-token strings. Anything else (a string, an array holding
 * a non-string or a string that is not one scope token) grants nothing.
 */
export function parseScpClaim(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) return [];
  return value.every((token) => typeof token === "string" && SCOPE_TOKEN.test(token))
    ? (value as string[])
    : [];
}

/** The scope tokens of an `scp` array as API Gateway flattens it into a claim string, "[a b c]". */
function flattenedScpTokens(value: unknown): string[] {
  if (typeof value !== "string" || !value.startsWith("[") || !value.endsWith("]")) return [];
  const inner = value.slice(1, -1);
  return inner === "" ? [] : parseScopeClaim(inner);
}

/**
 * Every scope the token carries. The function sees claims as API Gateway passes them on: every value a
 * string, an array flattened to "[a b c]", plus the authorizer's own list of the token's scopes. So:
 * - the `scope` claim's string, read as `parseScopeClaim` says;
 * - an entry of the authorizer's list counts only where it is also an element of the `scp` claim's
 *   flattened array, so that the list cannot grant what a malformed `scope` claim, or an `scp` that is
 *   a string rather than an array, would not.
 */
export function tokenScopes(jwt: JwtContext): Set<string> {
  const scopes = new Set(parseScopeClaim(jwt.claims.scope));
  const scp = new Set(flattenedScpTokens(jwt.claims.scp));
  for (const listed of jwt.scopes ?? []) if (scp.has(listed)) scopes.add(listed);
  return scopes;
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
