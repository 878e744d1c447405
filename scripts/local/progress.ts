/**
 * Progress of the local service's runs: how far each running run has got (reading its file, computing,
 * writing customers), kept on the run record as `progress` about once a second so that the
 * API and the dashboard show it, and handed to a listener (the start-up log of the demo).
 *
 * It observes the pipeline from the outside, through the store and blob store the handlers share: a run's
 * record being created starts it; its file's stream is counted as it is read; `markPending` opens the write
 * phase; the customer writes are passed on in slices, each counted once written. The record
 * is only ever updated while the run is still `running`, so a finished run keeps no progress.
 */
import { type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { RunProgress, RunRecord } from "../../shared/model";
import type { CustomerWrite } from "../../shared/pipeline/ports";
import type { Runtime } from "../../shared/runtime";
import { datasetPk, parseUploadKey, runSk } from "../../shared/store/keys";

/** Items handed to the store at once, so that writing is counted as it goes. */
const WRITE_SLICE = 1_000;
/** How often the records of running runs are updated. */
const RECORD_EVERY_MS = 1_000;

export interface TrackedRun {
  tenantId: string;
  datasetId: string;
  runId: string;
  trigger: RunRecord["trigger"];
  progress: RunProgress;
}

type Listener = (run: TrackedRun) => void;

const weights = { reading: [0, 5], computing: [5, 15], customers: [15, 100] } as const;

function between([from, to]: readonly [number, number], done: number, total: number): number {
  return Math.round((from + (total > 0 ? (to - from) * Math.min(1, done / total) : 0)) * 10) / 10;
}

/**
 * A store and a blob store that report progress, built on the runtime's (which are left as they are), for
 * the local service to hand to the handler factories; running runs' records are updated meanwhile.
 * `stop()` ends the updates.
 */
export function trackProgress(
  rt: Pick<Runtime, "store" | "blobs" | "clients" | "config">,
  onChange?: Listener,
): { store: Runtime["store"]; blobs: Runtime["blobs"]; stop(): void } {
  const runs = new Map<string, TrackedRun>();
  const changed = new Set<string>();
  const key = (tenantId: string, datasetId: string) => `${tenantId}\u0000${datasetId}`;
  const now = () => new Date().toISOString();

  const update = (tenantId: string, datasetId: string, patch: Partial<RunProgress>) => {
    const run = runs.get(key(tenantId, datasetId));
    if (!run) return;
    run.progress = { ...run.progress, ...patch, updatedAt: now() };
    changed.add(key(tenantId, datasetId));
    onChange?.(run);
  };

  // Each wrapper inherits every other method from the object it wraps, and overrides the ones observed.
  const base = rt.store;
  const store: Runtime["store"] = Object.create(base);
  const blobs: Runtime["blobs"] = Object.create(rt.blobs);
  const createRun = base.createRun.bind(base);
  store.createRun = async (run) => {
    const existing = await createRun(run);
    if (!existing) {
      runs.set(key(run.tenantId, run.datasetId), {
        tenantId: run.tenantId,
        datasetId: run.datasetId,
        runId: run.runId,
        trigger: run.trigger,
        progress: { phase: run.trigger === "upload" ? "reading" : "computing", percent: 0, updatedAt: now() },
      });
      changed.add(key(run.tenantId, run.datasetId));
    }
    return existing;
  };

  const stream = rt.blobs.stream.bind(rt.blobs);
  blobs.stream = async (objectKey) => {
    const source = await stream(objectKey);
    const upload = parseUploadKey(objectKey);
    if (!source || !upload) return source;
    const { tenant: tenantId, dataset: datasetId } = upload;
    return (async function* counted() {
      let bytesRead = 0;
      for await (const chunk of source) {
        bytesRead += chunk.byteLength;
        update(tenantId, datasetId, { bytesRead });
        yield chunk;
      }
      update(tenantId, datasetId, { phase: "computing", percent: weights.reading[1] });
    })();
  };

  const markPending = base.markPending.bind(base);
  store.markPending = async (tenantId, datasetId, owner, runId, version) => {
    await markPending(tenantId, datasetId, owner, runId, version);
    const run = runs.get(key(tenantId, datasetId));
    if (run && run.runId === runId)
      update(tenantId, datasetId, { phase: "writing", percent: weights.computing[1] });
  };

  const writeCustomers = base.writeCustomers.bind(base);
  store.writeCustomers = async (tenantId, datasetId, version, writes: CustomerWrite[]) => {
    let written = 0;
    update(tenantId, datasetId, { customersWritten: 0, customersTotal: writes.length });
    for (let i = 0; i < writes.length || i === 0; i += WRITE_SLICE) {
      written += await writeCustomers(tenantId, datasetId, version, writes.slice(i, i + WRITE_SLICE));
      update(tenantId, datasetId, {
        customersWritten: written,
        percent: between(weights.customers, written, writes.length),
      });
    }
    return written;
  };

  const record = async (doc: DynamoDBDocumentClient, table: string, run: TrackedRun) => {
    try {
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: datasetPk(run.tenantId, run.datasetId), sk: runSk(run.runId) },
          UpdateExpression: "SET progress = :progress",
          ConditionExpression: "#status = :running",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":progress": run.progress, ":running": "running" },
        }),
      );
    } catch (error) {
      // The run has ended (its record no longer says running): it is no longer followed.
      if ((error as Error).name === "ConditionalCheckFailedException") {
        const k = key(run.tenantId, run.datasetId);
        if (runs.get(k)?.runId === run.runId) runs.delete(k);
      }
      // Any other failure is tried again at the next tick.
    }
  };

  let busy = false;
  const timer = setInterval(() => {
    if (busy || changed.size === 0) return;
    busy = true;
    const due = [...changed].map((k) => runs.get(k)).filter((r): r is TrackedRun => r !== undefined);
    changed.clear();
    void Promise.all(due.map((run) => record(rt.clients.doc, rt.config.TABLE_NAME, run))).finally(() => {
      busy = false;
    });
  }, RECORD_EVERY_MS);
  timer.unref();
  return { store, blobs, stop: () => clearInterval(timer) };
}
