/**
 * Prints an access token of the local service's issuer (scripts/local/auth.ts), signed with the key in the
 * data directory (made there if absent, so the service started later accepts it).
 *
 *   npm run -s token -- [--tenant demo | --no-tenant] [--scopes read,write,admin] [--ttl 3600]
 *     [--data-dir .local/data]
 *
 *   export TOKEN=$(npm run -s token)
 *   curl -H "authorization: Bearer $TOKEN" http://127.0.0.1:3000/datasets
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TENANT_ID_PATTERN } from "../shared/http/auth";
import { mainCli, UsageError, wholeNumber } from "./cli";
import { ALL_SCOPES, isScope, localKeys, mintToken } from "./local/auth";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MAX_TTL_SECONDS = 30 * 24 * 3600;

const CLI = {
  name: "token",
  usage: `usage: npm run -s token -- [--tenant <id> | --no-tenant] [--scopes ${ALL_SCOPES.join(",")}] [--ttl <seconds>] [--data-dir <dir>]
  --tenant    the token's tenant claim (default demo)
  --no-tenant leave the tenant claim out (the service then uses its default tenant)
  --scopes    comma-separated, any of ${ALL_SCOPES.join(", ")}; empty for none (default all)
  --ttl       lifetime in seconds, 1 to ${MAX_TTL_SECONDS} (default 3600)
  --data-dir  the service's data directory, which holds the signing key (default .local/data)
`,
  options: {
    tenant: { type: "string", default: "demo" },
    "no-tenant": { type: "boolean", default: false },
    scopes: { type: "string", default: ALL_SCOPES.join(",") },
    ttl: { type: "string", default: "3600" },
    "data-dir": { type: "string", default: join(root, ".local/data") },
  },
} as const;

await mainCli(CLI, async ({ values: args }) => {
  const scopes = args.scopes
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) throw new UsageError(`--scopes: unknown scope ${JSON.stringify(unknown[0])}`);
  if (!args["no-tenant"] && !TENANT_ID_PATTERN.test(args.tenant))
    throw new UsageError("--tenant: letters, digits, '_' and '-', 1 to 64 characters");
  const ttl = wholeNumber("ttl", args.ttl, 1, MAX_TTL_SECONDS);

  const keys = await localKeys(resolve(args["data-dir"]));
  const token = await mintToken(keys, {
    tenant: args["no-tenant"] ? null : args.tenant,
    scopes,
    ttlSeconds: ttl,
  });
  process.stdout.write(`${token}\n`);
});
