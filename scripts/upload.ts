/**
 * Uploads a transactions or customers file to a running service and waits for its run.
 *   npm run upload -- [--api http://127.0.0.1:3000] [--token <jwt>] --dataset <id> [--kind customers]
 *     [--mode replace] <file>
 * The token (write and read scopes) comes from --token or the TOKEN environment variable; for the local
 * service, `export TOKEN=$(npm run -s token)` makes one.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { uploadFile } from "./local/upload";

const usage =
  "usage: npm run upload -- [--api <url>] [--token <jwt>] --dataset <id> [--kind customers] [--mode replace] <file>\n";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    api: { type: "string", default: "http://127.0.0.1:3000" },
    token: { type: "string" },
    dataset: { type: "string" },
    kind: { type: "string", default: "transactions" },
    mode: { type: "string", default: "append" },
  },
});

const file = positionals[0];
if (!file || !values.dataset) {
  process.stderr.write(usage);
  process.exit(2);
}
const token = values.token ?? process.env.TOKEN;
if (!token) {
  process.stderr.write(
    "upload: no token; pass --token or set TOKEN (for the local service: export TOKEN=$(npm run -s token))\n",
  );
  process.exit(2);
}
const run = await uploadFile(values.api, values.dataset, file, await readFile(file), {
  kind: values.kind === "customers" ? "customers" : "transactions",
  mode: values.mode === "replace" ? "replace" : "append",
  waitMs: 600_000,
  token,
});
process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
process.exit(run.status === "succeeded" ? 0 : 1);
