/**
 * Uploads a transactions or customers file, or an Amazon Pinpoint endpoint export, to a running service and
 * waits for its run.
 *
 *   npm run upload -- [--api http://127.0.0.1:3000] [--token <jwt>] --dataset <id> [--kind customers]
 *     [--mode replace] [--columns customer_id=Kunde,order_id=Bestellung,...] <file>
 *
 * The token (write and read scopes) comes from --token or the TOKEN environment variable; for the local
 * service, `export TOKEN=$(npm run -s token)` makes one. Prints the finished run as JSON; exit code 0 when it
 * succeeded, 1 when it failed or the file cannot be read, 2 for a mistake on the command line.
 */
import { readFile } from "node:fs/promises";
import { datasetIdSchema } from "../shared/model";
import { existingFile, InputError, mainCli, oneOf, UsageError } from "./cli";
import { parseColumns, uploadFile } from "./local/upload";

const CLI = {
  name: "upload",
  usage: `usage: npm run upload -- [--api <url>] [--token <jwt>] --dataset <id>
                          [--kind transactions|customers|pinpoint-endpoints]
                          [--mode append|replace] [--columns <column>=<header>,...] <file>
  --api      the service's address (default http://127.0.0.1:3000)
  --token    an access token with the write and read scopes (default: the TOKEN environment variable;
             for the local service: export TOKEN=$(npm run -s token))
  --dataset  the dataset to upload to (letters, digits, '_' and '-'); created if it does not exist
  --kind     transactions (default), customers, or pinpoint-endpoints (the JSON lines of a Pinpoint endpoint
             export: one customer per User.UserId, see the README's "Moving from Amazon Pinpoint")
  --mode     append (default) or replace
  --columns  the file's header for each column of the data contract that it names otherwise, e.g.
             --columns customer_id=Kunde,order_id=Bestellung,order_date=Datum,amount=Betrag
  The file is CSV with a header or NDJSON (.ndjson, .jsonl), optionally gzip-compressed.
`,
  allowPositionals: true,
  options: {
    api: { type: "string", default: "http://127.0.0.1:3000" },
    token: { type: "string" },
    dataset: { type: "string" },
    kind: { type: "string", default: "transactions" },
    mode: { type: "string", default: "append" },
    columns: { type: "string" },
  },
} as const;

await mainCli(CLI, async ({ values, positionals }) => {
  if (positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? "a file to upload is required" : "one file expected");
  const file = positionals[0] as string;
  if (values.dataset === undefined) throw new UsageError("--dataset is required");
  if (!datasetIdSchema.safeParse(values.dataset).success)
    throw new UsageError(
      `--dataset must be 1-64 letters, digits, '-' or '_', starting with a letter or digit, got ${JSON.stringify(values.dataset)}`,
    );
  const kind = oneOf("kind", values.kind, ["transactions", "customers", "pinpoint-endpoints"] as const);
  const mode = oneOf("mode", values.mode, ["append", "replace"] as const);
  const columns = values.columns === undefined ? undefined : parseColumns(values.columns);
  let api: URL;
  try {
    api = new URL(values.api);
  } catch {
    throw new UsageError(`--api must be a URL such as http://127.0.0.1:3000, got "${values.api}"`);
  }
  const token = values.token ?? process.env.TOKEN;
  if (!token)
    throw new UsageError(
      "no token; pass --token or set TOKEN (for the local service: export TOKEN=$(npm run -s token))",
    );
  await existingFile(file);
  let run: Awaited<ReturnType<typeof uploadFile>>;
  try {
    run = await uploadFile(api.origin, values.dataset, file, await readFile(file), {
      kind,
      mode,
      ...(columns ? { columns } : {}),
      token,
    });
  } catch (error) {
    throw new InputError((error as Error).message);
  }
  process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
  if (run.status !== "succeeded" && run.error)
    process.stderr.write(`upload: the run ${run.status}: ${run.error.code}: ${run.error.message}\n`);
  return run.status === "succeeded" ? 0 : 1;
});
