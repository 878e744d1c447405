/**
 * The local issuer and JWT authorizer (scripts/local/auth.ts): the key kept in the data directory, tokens it
 * mints, and every way a token is refused, as API Gateway's JWT authorizer refuses it.
 */
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  KEY_FILE,
  LOCAL_AUDIENCE,
  LOCAL_ISSUER,
  type LocalKeys,
  localAuthorizer,
  localKeys,
  mintToken,
} from "../../scripts/local/auth";
import { tokenScopes } from "../../shared/http/auth";

let dataDir: string;
let keys: LocalKeys;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "auth-local-"));
  keys = await localKeys(dataDir);
});

const now = () => Math.floor(Date.now() / 1000);

describe("the signing key", () => {
  it("is kept in the data directory, readable by its owner only, and reused", async () => {
    const file = join(dataDir, KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await localKeys(dataDir);
    expect(again.kid).toBe(keys.kid);
    const jwk = JSON.parse(await readFile(file, "utf8"));
    expect(jwk).toMatchObject({ kty: "RSA", alg: "RS256", kid: keys.kid });
    expect(keys.publicJwk).toEqual({
      kty: "RSA",
      n: jwk.n,
      e: jwk.e,
      kid: keys.kid,
      alg: "RS256",
      use: "sig",
    });
  });

  it("is one key when several processes make it at once", async () => {
    const fresh = await mkdtemp(join(tmpdir(), "auth-local-race-"));
    const made = await Promise.all([1, 2, 3, 4].map(() => localKeys(fresh)));
    expect(new Set(made.map((k) => k.kid)).size).toBe(1);
    // Each of them signs tokens the others accept.
    const token = await mintToken(made[3] as LocalKeys, { tenant: "demo", scopes: ["read"], ttlSeconds: 60 });
    expect(await localAuthorizer(made[0] as LocalKeys).verify(`Bearer ${token}`)).toBeDefined();
  });

  it("refuses a file that is not an RSA private key, naming it", async () => {
    const other = await mkdtemp(join(tmpdir(), "auth-local-bad-"));
    await localKeys(other);
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(other, KEY_FILE), JSON.stringify({ kty: "oct", k: "abc" }));
    await expect(localKeys(other)).rejects.toThrow(/signing-key\.jwk\.json/);
  });
});

describe("the authorizer", () => {
  const verify = (header: string | undefined) => localAuthorizer(keys).verify(header);

  it("accepts a minted token and passes its claims on as API Gateway does, as strings", async () => {
    const token = await mintToken(keys, { tenant: "acme", scopes: ["read", "admin"], ttlSeconds: 600 });
    const jwt = await verify(`Bearer ${token}`);
    expect(jwt?.scopes).toEqual(["segmentation/read", "segmentation/admin"]);
    expect(jwt?.claims).toMatchObject({
      iss: LOCAL_ISSUER,
      aud: LOCAL_AUDIENCE,
      tenant: "acme",
      scope: "segmentation/read segmentation/admin",
      token_use: "access",
    });
    const exp = Number(jwt?.claims.exp);
    expect(typeof jwt?.claims.exp).toBe("string");
    expect(exp - now()).toBeGreaterThan(590);
    expect(exp - now()).toBeLessThanOrEqual(600);
    // API Gateway, like the issuer, takes the token with or without the Bearer prefix.
    expect(await verify(token)).toBeDefined();
    expect(await verify(`bearer  ${token}`)).toBeDefined();
  });

  it('flattens array claims to API Gateway\'s "[a b]", which the handler reads back', async () => {
    const token = await new SignJWT({ scp: ["segmentation/read", "segmentation/write"], tenant: "demo" })
      .setProtectedHeader({ alg: "RS256", kid: keys.kid })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .setExpirationTime(now() + 60)
      .sign(keys.privateKey);
    const jwt = await verify(`Bearer ${token}`);
    expect(jwt?.claims.scp).toBe("[segmentation/read segmentation/write]");
    expect(jwt?.scopes).toEqual(["segmentation/read", "segmentation/write"]);
    expect([...tokenScopes({ claims: jwt?.claims ?? {}, scopes: jwt?.scopes ?? null })]).toEqual([
      "segmentation/read",
      "segmentation/write",
    ]);
  });

  it("leaves the tenant claim out when asked", async () => {
    const token = await mintToken(keys, { tenant: null, scopes: ["read"], ttlSeconds: 60 });
    const jwt = await verify(`Bearer ${token}`);
    expect(jwt).toBeDefined();
    expect(jwt?.claims).not.toHaveProperty("tenant");
  });

  it("refuses a missing, empty or malformed token", async () => {
    for (const header of [undefined, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "x"]) {
      expect(await verify(header), String(header)).toBeUndefined();
    }
  });

  it("refuses a token signed by another key, even under this key's id", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await mintToken(
      { ...keys, privateKey },
      { tenant: "demo", scopes: ["read"], ttlSeconds: 60 },
    );
    expect(await verify(`Bearer ${forged}`)).toBeUndefined();
  });

  it("refuses a wrong issuer, a wrong audience and an expired token", async () => {
    const base = { tenant: "demo", scopes: ["read"], ttlSeconds: 60 };
    const cases = {
      issuer: await mintToken(keys, { ...base, issuer: "https://elsewhere.example/issuer" }),
      audience: await mintToken(keys, { ...base, audience: "another-api" }),
      expired: await mintToken(keys, { ...base, ttlSeconds: -5 }),
    };
    for (const [name, token] of Object.entries(cases)) {
      expect(await verify(`Bearer ${token}`), name).toBeUndefined();
    }
  });

  it("refuses an unsigned token, one without a key id and one without an expiry", async () => {
    const unsigned = new UnsecuredJWT({ scope: "segmentation/read" })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .setExpirationTime(now() + 60)
      .encode();
    const sign = (jwt: SignJWT, kid?: string) =>
      jwt
        .setProtectedHeader(kid === undefined ? { alg: "RS256" } : { alg: "RS256", kid })
        .setIssuer(LOCAL_ISSUER)
        .setAudience(LOCAL_AUDIENCE)
        .sign(keys.privateKey);
    const noKid = await sign(new SignJWT({ scope: "segmentation/read" }).setExpirationTime(now() + 60));
    const noExp = await sign(new SignJWT({ scope: "segmentation/read" }), keys.kid);
    for (const [name, token] of Object.entries({ unsigned, noKid, noExp })) {
      expect(await verify(`Bearer ${token}`), name).toBeUndefined();
    }
  });
});
