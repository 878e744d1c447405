/**
 * Uploads a transactions or customers file to a running service and waits for its run.
 *   npm run upload -- [--api http://127.0.0.1:3000] --dataset <id> [--kind customers] [--mode replace] <file>
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { uploadFile } from "./local/upload";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    api: { type: "string", default: "http://127.0.0.1:3000" },
    dataset: { type: "string" },
    kind: { type: "string", default: "transactions" },
    mode: { type: "string", default: "append" },
  },
});

const file = positionals[0];
if (!file || !values.dataset) {
  process.stderr.write(
    "usage: npm run upload -- --dataset <id> [--kind customers] [--mode replace] <file>\n",
  );
  process.exit(2);
}
const run = await uploadFile(values.api, values.dataset, file, await readFile(file), {
  kind: values.kind === "customers" ? "customers" : "transactions",
  mode: values.mode === "replace" ? "replace" : "append",
  waitMs: 600_000,
});
process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
process.exit(run.status === "succeeded" ? 0 : 1);
