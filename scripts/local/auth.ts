/**
 * The local service's token issuer and JWT authorizer, standing in for the deployment's identity provider
 * (Cognito or an OIDC issuer) and API Gateway's JWT authorizer.
 *
 * - One RSA key pair (RS256, the algorithm family API Gateway's JWT authorizer accepts), made on first use
 *   and kept in `<dataDir>/auth/signing-key.jwk.json`, readable by its owner only. Its public half is the
 *   JWKS the local server serves at /.well-known/jwks.json. `--reset` deletes it with the rest of the data,
 *   which invalidates every token minted before.
 * - Tokens carry a fixed issuer and audience (independent of the port), `scope` with
 *   `<scopePrefix>/read|write|admin` as Cognito writes it, and a `tenant` claim.
 * - The authorizer does what API Gateway does before the function runs: takes the token from the
 *   Authorization header (with or without "Bearer "), checks signature, key id, algorithm, issuer, audience
 *   and expiry, and hands the claims on as API Gateway does, every value a string. Route scopes are left to
 *   the handler, which enforces them in AWS as well (shared/http/auth.ts).
 */
import { randomUUID } from "node:crypto";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type CryptoKey,
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";
import { parseScopeClaim, parseScpClaim } from "../../shared/http/auth";
import type { Scope } from "../../shared/routes";

export const LOCAL_ISSUER = "https://local.segmentation/issuer";
export const LOCAL_AUDIENCE = "segmentation-local";
export const LOCAL_SCOPE_PREFIX = "segmentation";
export const LOCAL_ALGORITHM = "RS256";
/** The key file, relative to the data directory. */
export const KEY_FILE = join("auth", "signing-key.jwk.json");

/** The Record makes a scope added to the route table without being listed here a type error. */
const SCOPE_SET: Readonly<Record<Scope, true>> = { read: true, write: true, admin: true };
export const ALL_SCOPES = Object.keys(SCOPE_SET) as Scope[];

export function isScope(name: string): name is Scope {
  return Object.hasOwn(SCOPE_SET, name);
}

export interface LocalKeys {
  kid: string;
  privateKey: CryptoKey;
  /** The public key as published in the JWKS. */
  publicJwk: JWK;
}

async function fromPrivateJwk(jwk: JWK, file: string): Promise<LocalKeys> {
  if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string" || !jwk.d || !jwk.kid) {
    throw new Error(`${file} is not an RSA private key of the local issuer; delete it to make a new one`);
  }
  const privateKey = (await importJWK(jwk, LOCAL_ALGORITHM)) as CryptoKey;
  return {
    kid: jwk.kid,
    privateKey,
    publicJwk: { kty: "RSA", n: jwk.n, e: jwk.e, kid: jwk.kid, alg: LOCAL_ALGORITHM, use: "sig" },
  };
}

/**
 * The data directory's signing key, made on first use. Two processes starting at once (the service and
 * `npm run token`) end up with the same key: the file appears complete or not at all (written aside, then
 * hard-linked into place, which fails if another process linked first).
 */
export async function localKeys(dataDir: string): Promise<LocalKeys> {
  const file = join(dataDir, KEY_FILE);
  const existing = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (existing !== undefined) return fromPrivateJwk(JSON.parse(existing) as JWK, file);

  await mkdir(join(dataDir, "auth"), { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(LOCAL_ALGORITHM, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint({ kty: "RSA", n: jwk.n as string, e: jwk.e as string });
  jwk.alg = LOCAL_ALGORITHM;
  const aside = `${file}.${randomUUID()}.tmp`;
  await writeFile(aside, JSON.stringify(jwk), { mode: 0o600 });
  try {
    await link(aside, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(aside).catch(() => undefined);
  }
  return fromPrivateJwk(JSON.parse(await readFile(file, "utf8")) as JWK, file);
}

export function jwks(keys: LocalKeys): JSONWebKeySet {
  return { keys: [keys.publicJwk] };
}

export interface MintOptions {
  /** The `tenant` claim; null leaves it out. */
  tenant: string | null;
  /** Scope names (read, write, admin, or anything else for tests), written as `<prefix>/<name>`. */
  scopes: readonly string[];
  /** Lifetime; a negative one mints a token that has already expired. */
  ttlSeconds: number;
  scopePrefix?: string;
  issuer?: string;
  audience?: string;
  subject?: string;
  now?: Date;
}

/** A signed access token of the local issuer, shaped like a Cognito client-credentials access token. */
export async function mintToken(keys: LocalKeys, options: MintOptions): Promise<string> {
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const prefix = options.scopePrefix ?? LOCAL_SCOPE_PREFIX;
  const claims: Record<string, unknown> = {
    client_id: "local-dev",
    token_use: "access",
    scope: options.scopes.map((s) => `${prefix}/${s}`).join(" "),
    ...(options.tenant === null ? {} : { tenant: options.tenant }),
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: LOCAL_ALGORITHM, kid: keys.kid, typ: "JWT" })
    .setIssuer(options.issuer ?? LOCAL_ISSUER)
    .setAudience(options.audience ?? LOCAL_AUDIENCE)
    .setSubject(options.subject ?? "local-dev")
    .setJti(randomUUID())
    .setIssuedAt(Math.min(now, now + options.ttlSeconds - 1))
    .setExpirationTime(now + options.ttlSeconds)
    .sign(keys.privateKey);
}

/** What API Gateway's JWT authorizer puts in `requestContext.authorizer.jwt`. */
export interface VerifiedJwt {
  claims: Record<string, string>;
  scopes: string[];
}

export interface LocalAuthorizer {
  jwks: JSONWebKeySet;
  /** The verified token of an Authorization header value, or undefined for none or a bad one. */
  verify(authorization: string | undefined): Promise<VerifiedJwt | undefined>;
}

/** Claim values as API Gateway passes them to the function: strings, arrays flattened to "[a b]". */
function gatewayClaimValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return `[${value.map(gatewayClaimValue).join(" ")}]`;
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

/** The authorizer's scope list: the token's `scope` string and `scp` array, read as shared/http/auth.ts says. */
function scopesOf(payload: Record<string, unknown>): string[] {
  return [...parseScopeClaim(payload.scope), ...parseScpClaim(payload.scp)];
}

export function localAuthorizer(
  keys: LocalKeys,
  options: { issuer?: string; audience?: string } = {},
): LocalAuthorizer {
  const set = jwks(keys);
  const byKid = createLocalJWKSet(set);
  const issuer = options.issuer ?? LOCAL_ISSUER;
  const audience = options.audience ?? LOCAL_AUDIENCE;
  return {
    jwks: set,
    async verify(authorization) {
      const token = authorization?.trim().replace(/^Bearer\s+/i, "");
      if (!token) return undefined;
      try {
        const { payload } = await jwtVerify(
          token,
          (header, input) => {
            // API Gateway looks the key up by kid; a token without one matches no key.
            if (typeof header.kid !== "string") throw new Error("no kid");
            return byKid(header, input);
          },
          { issuer, audience, algorithms: [LOCAL_ALGORITHM], requiredClaims: ["exp"] },
        );
        const claims: Record<string, string> = {};
        for (const [name, value] of Object.entries(payload)) claims[name] = gatewayClaimValue(value);
        return { claims, scopes: scopesOf(payload) };
      } catch {
        return undefined;
      }
    },
  };
}
