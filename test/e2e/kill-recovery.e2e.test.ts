/**
 * A kill -9 of the local service during the write phase of an upload, and a restart on the same data
 * directory (tables on disk): the run the dead process was working on is closed as `abandoned` once its lease
 * lapses, and the upload is computed again by a new run to the same result as an uninterrupted run. The
 * whole process tree (the service, the DynamoDB Local watchdog and Java) is killed with SIGKILL, as a crash
 * would leave it. The time from the restarted service's "Ready." to the recomputed result is printed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { postFile, requestUpload } from "../../scripts/local/upload";

const root = resolve(import.meta.dirname, "../..");
const DATASET = "killed";
/** Customers of the upload: enough that writing them takes the local tables a while. */
const CUSTOMERS = 2_000;
/** The local service's lease on a dataset, renewed every third of it. */
const LEASE_SECONDS = 20;

interface Started {
  child: ChildProcess;
  api: string;
  dynamodb: string;
  token: string;
  readyAt: number;
  output: () => string;
}

const children: ChildProcess[] = [];
const dataDirs: string[] = [];

/** Starts the service in a process group of its own, so that the whole tree can be killed at once. */
async function start(dataDir: string): Promise<Started> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/local.ts",
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--no-demo",
      "--tables",
      "disk",
      "--refresh-every",
      "0",
      "--sweep-every",
      "2",
      // The dead run's lease lapses 2/3 to 3/3 of this after the kill (the stack's 90 s would make the test
      // wait a minute or more for it); a third of it between renewals is slack for a busy machine.
      "--lease-seconds",
      String(LEASE_SECONDS),
    ],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { ...process.env, LOG_LEVEL: "ERROR" },
    },
  );
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  // Progress, not a time limit, ends the wait: it only stops if the service exits.
  while (!out.includes("Ready.")) {
    if (child.exitCode !== null) throw new Error(`The local service exited early:\n${out}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  const api = /API:\s+(\S+)/.exec(out)?.[1];
  const dynamodb = /DynamoDB:\s+(\S+)/.exec(out)?.[1];
  const token = /export TOKEN=(\S+)/.exec(out)?.[1];
  if (!api || !dynamodb || !token) throw new Error(`Could not read the service's addresses:\n${out}`);
  return { child, api, dynamodb, token, readyAt: Date.now(), output: () => out };
}

function killTree(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  process.kill(-(child.pid as number), "SIGKILL");
  return exited;
}

afterAll(async () => {
  const exits: Promise<unknown>[] = [];
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      exits.push(new Promise((ok) => child.once("exit", ok)));
      try {
        process.kill(-(child.pid as number), "SIGINT");
      } catch {
        // Already gone.
      }
    }
  }
  await Promise.all(exits);
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

/** One order per customer, spread over a year. */
function transactions(): Uint8Array {
  const lines = ["customer_id,order_id,order_date,amount"];
  for (let i = 0; i < CUSTOMERS; i++) {
    const day = String(1 + (i % 28)).padStart(2, "0");
    const month = String(1 + (i % 12)).padStart(2, "0");
    lines.push(`K${i},O${i},2025-${month}-${day},${10 + (i % 90)}.${String(i % 100).padStart(2, "0")}`);
  }
  return new TextEncoder().encode(`${lines.join("\n")}\n`);
}

async function api<T>(s: Started, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${s.api}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json", ...init.headers },
  });
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

interface Run {
  runId: string;
  status: string;
  retriedBy?: string;
  retryOf?: string;
  finishedAt?: string;
  error?: { code: string; message: string };
  counts?: { customers?: number };
  segments?: Array<{ id: string; size: number }>;
}

/** Polls until `fn` returns a value; a hang (the service exited) ends it, never a time limit. */
async function until<T>(s: Started, fn: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    if (s.child.exitCode !== null) throw new Error(`The local service exited:\n${s.output()}`);
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((ok) => setTimeout(ok, 250));
  }
}

describe("kill -9 of the local service mid-write", () => {
  it("closes the dead run as abandoned after a restart and computes its upload again", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "segmentation-kill-"));
    dataDirs.push(dataDir);
    const first = await start(dataDir);
    await api(first, "/datasets", {
      method: "POST",
      body: JSON.stringify({ datasetId: DATASET, settings: { asOf: "2026-01-01" } }),
    });
    const body = transactions();
    const { uploadId, url, fields } = await requestUpload(first.api, DATASET, "orders.csv", {
      token: first.token,
    });
    await postFile(url, fields, body, "orders.csv");

    // The write phase: the run has marked its version pending and holds the lease.
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: first.dynamodb,
        region: "us-east-1",
        credentials: S3_SERVER_CREDENTIALS,
      }),
    );
    await until(first, async () => {
      const out = await doc.send(
        new GetCommand({ TableName: "segmentation-local", Key: { pk: `T#demo#D#${DATASET}`, sk: "META" } }),
      );
      return out.Item?.pending && out.Item.lock && !out.Item.current ? true : undefined;
    });
    await killTree(first.child);

    const second = await start(dataDir);
    const runs = async () => (await api<{ runs: Run[] }>(second, `/datasets/${DATASET}/runs?limit=20`)).runs;
    const [dead] = await runs();
    // Still as the dead process left it, or already closed by the restarted service's sweeper.
    expect(["running", "abandoned"]).toContain(dead?.status);

    const { abandoned, retry } = await until(second, async () => {
      const all = await runs();
      const closed = all.find((r) => r.status === "abandoned");
      const done = all.find((r) => r.retryOf === closed?.runId && r.status === "succeeded");
      return closed && done ? { abandoned: closed, retry: done } : undefined;
    });
    const recoveredMs = Date.parse(retry.finishedAt as string) - second.readyAt;
    process.stdout.write(
      `kill -9 recovery: ${(recoveredMs / 1000).toFixed(1)} s from restart to the recomputed result\n`,
    );

    expect(abandoned.runId).toBe(dead?.runId);
    expect(abandoned.retriedBy).toBe(retry.runId);
    expect(abandoned.error?.code).toBe("RETRY_ABANDONED");
    expect(retry.counts?.customers).toBe(CUSTOMERS);
    const dataset = await api<{ current?: { version: number; customerCount: number } }>(
      second,
      `/datasets/${DATASET}`,
    );
    expect(dataset.current?.customerCount).toBe(CUSTOMERS);
    // Every customer is served, the first and the last written alike.
    for (const id of ["K0", `K${CUSTOMERS - 1}`]) {
      const customer = await api<{ customerId: string }>(second, `/datasets/${DATASET}/customers/${id}`);
      expect(customer.customerId).toBe(id);
    }
    // One upload, one result: the dead run made no version of its own.
    expect((await runs()).filter((r) => r.status === "succeeded")).toHaveLength(1);
    expect(dataset.current?.version).toBe(2);
    expect(uploadId).toBeDefined();
    const stopped = new Promise<void>((ok) => second.child.once("exit", () => ok()));
    process.kill(-(second.child.pid as number), "SIGINT");
    await stopped;
    // A hang, not slowness, is what this limit catches.
  }, 3_600_000);
});
