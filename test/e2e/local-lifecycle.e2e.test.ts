/**
 * `npm start` as a user meets it: the token and the curl session come as soon as the API serves; the demo
 * dataset loads after, reporting its progress in the log and on its run's record; a file with other headers
 * is refused with the headers it has and the mapping to give, and accepted with `--columns`; Ctrl-C stops
 * everything, data survives a restart, and --reset starts afresh.
 *
 * Waiting is on the progress the service reports (test/e2e/local-service.ts): a slow machine makes this
 * test slower, only a silent service fails it.
 *
 * Expected values of the demo (scripts/local/demo/cdnow-sample-transactions.csv.gz), counted from the file
 * itself: 6,919 data rows, 2,357 distinct customer ids, the first of them 0001; evaluated as of 1998-07-01,
 * the day after the CDNOW data end, as the demo's settings say.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type NodeOutcome, runNode } from "../support/node-process";
import { type LocalService, startLocalService } from "./local-service";

let running: LocalService | undefined;

afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function portClosed(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return false;
  } catch {
    return true;
  }
}

const root = resolve(import.meta.dirname, "../..");

/** `npm run upload` in a process of its own. */
function upload(args: string[], token: string): Promise<NodeOutcome> {
  return runNode(["--import", "tsx", "scripts/upload.ts", ...args], { cwd: root, env: { TOKEN: token } });
}

/** The same four orders under German headers; customers K1 (2 orders) and K2. */
const GERMAN = `Kunde,Bestellung,Datum,Betrag
K1,B1,1998-05-01,10.00
K1,B2,1998-06-01,20.00
K2,B3,1998-06-15,5.50
`;

describe("the local service", () => {
  it("serves the demo dataset, stops on Ctrl-C, keeps data across restarts and resets on request", async () => {
    running = await startLocalService({ tables: "disk", args: ["--refresh-every", "0"] });
    const { dataDir, api, s3, auth } = running;
    // The API answers and the token works before the demo is in.
    expect((await fetch(`${api}/health`)).status).toBe(200);
    expect(running.output()).toContain("export TOKEN=");
    expect(running.output()).not.toMatch(/^Demo:\s+ready/m);

    // While it loads, the demo's run carries its progress on the API.
    const phases = new Set<string>();
    const watch = (async () => {
      while (running && !/^Demo:\s+(ready|failed)/m.test(running.output())) {
        const res = await fetch(`${api}/datasets/cdnow/runs?limit=5`, { headers: auth }).catch(
          () => undefined,
        );
        if (res?.ok) {
          const { runs } = (await res.json()) as {
            runs: { progress?: { phase: string; percent: number } }[];
          };
          for (const r of runs) if (r.progress) phases.add(r.progress.phase);
        }
        await new Promise((ok) => setTimeout(ok, 200));
      }
    })();
    expect(await running.demo()).toMatch(/^Demo:\s+ready: 2,357 customers, 6,919 rows read/);
    await watch;
    expect(phases).toContain("writing");
    // The log showed the demo's progress: its phases and how much of the writing was done.
    expect(running.output()).toMatch(/^Demo:\s+\d+% computing the segments$/m);
    expect(running.output()).toMatch(/^Demo:\s+\d+% writing: [\d,]+ of 2,357 customers/m);

    const segments = (await (await fetch(`${api}/datasets/cdnow/segments`, { headers: auth })).json()) as {
      asOf: string;
      customerCount: number;
      segments: unknown[];
    };
    expect(segments.asOf).toBe("1998-07-01");
    expect(segments.customerCount).toBe(2_357);
    const customer = await fetch(`${api}/datasets/cdnow/customers/0001`, { headers: auth });
    expect(customer.status).toBe(200);
    // The run that loaded it ended, and keeps no progress.
    const runs = (await (await fetch(`${api}/datasets/cdnow/runs`, { headers: auth })).json()) as {
      runs: { status: string; progress?: unknown }[];
    };
    expect(runs.runs[0]?.status).toBe("succeeded");
    expect(runs.runs[0]?.progress).toBeUndefined();

    // A file with other headers: refused with the headers it has and the mapping to give; then mapped.
    const file = join(await mkdtemp(join(tmpdir(), "columns-")), "bestellungen.csv");
    await writeFile(file, GERMAN);
    const unmapped = await upload(["--api", api, "--dataset", "german", file], running.token);
    expect(unmapped.code).toBe(1);
    expect(unmapped.stderr).toContain("MISSING_COLUMNS");
    expect(unmapped.stderr).toContain('"Kunde", "Bestellung", "Datum", "Betrag"');
    expect(unmapped.stderr).toContain("--columns customer_id=<header>");
    const mapped = await upload(
      [
        "--api",
        api,
        "--dataset",
        "german",
        "--columns",
        "customer_id=Kunde,order_id=Bestellung,order_date=Datum,amount=Betrag",
        file,
      ],
      running.token,
    );
    expect(mapped.code, mapped.stderr).toBe(0);
    const run = JSON.parse(mapped.stdout) as { status: string; counts: Record<string, number> };
    expect(run.status).toBe("succeeded");
    expect(run.counts).toMatchObject({ rowsRead: 3, rowsAccepted: 3, customers: 2 });

    expect(await running.stop()).toBe(0);
    running = undefined;
    expect(await portClosed(`${api}/health`)).toBe(true);
    expect(await portClosed(s3)).toBe(true);

    running = await startLocalService({ dataDir, tables: "disk", args: ["--refresh-every", "0"] });
    expect(await running.demo()).toContain("already loaded");
    // The signing key survives the restart with the data, so the first start's token still works.
    const again = (await (
      await fetch(`${running.api}/datasets/cdnow/segments`, { headers: auth })
    ).json()) as {
      segments: unknown[];
    };
    expect(again.segments).toEqual(segments.segments);
    await running.stop();

    running = await startLocalService({
      dataDir,
      tables: "disk",
      args: ["--reset", "--no-demo", "--refresh-every", "0"],
    });
    // --reset made a new signing key: tokens of the old one are refused, the new token finds no dataset.
    const stale = await fetch(`${running.api}/datasets/cdnow/segments`, { headers: auth });
    expect(stale.status).toBe(401);
    const gone = await fetch(`${running.api}/datasets/cdnow/segments`, { headers: running.auth });
    expect(gone.status).toBe(404);
  }, 3_600_000);
});
