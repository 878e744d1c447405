/**
 * The erasure of one customer from one dataset, run by the refresh function on an "Erasure Requested" event.
 *
 * Holding the dataset's lease, like any run:
 *  1. every uploaded file of the dataset is rewritten without the customer's rows (./scrub.ts), and the new
 *     object's ETag is recorded on its upload so that the rewrite's own S3 event is skipped;
 *  2. the dataset's member exports are deleted;
 *  3. a new version without the customer is published the way every run publishes (so readers switch to it
 *     atomically; its history file has no line of the customer), which releases the lease.
 * Then, since no reader needs them any more:
 *  4. the customer's item is deleted outright (a run keeps a changed item's previous value for readers of
 *     the committed version; that value would still hold the customer), and with the item the customer's
 *     membership history, which it carries (a segment's members are no items: they are in each version's
 *     member pages, ./member-pages.ts, which the new version writes without the customer);
 *  5. the state files of every earlier version are deleted;
 *  6. the files of s3 and audience destinations the service still holds are rewritten without the customer;
 *  7. the erasure record is marked completed with its counts.
 * A crash before the commit is retried like any run (rewritten files have nothing left to remove); a crash
 * after it finds its run succeeded and redoes steps 4-7, which are idempotent.
 *
 * The customer id comes from the erasure record, which holds it until the update that completes it; the
 * event names only the record, so no event, dead letter or log line carries the id. Run records and logs
 * keep counts.
 */
import { eraseFromDeliveryPayloads } from "../destinations/erase";
import { eraseFromMemberFiles } from "../destinations/member-files";
import { LIFECYCLE_STAGES, RFM_SEGMENTS } from "../engine";
import { RetryableError } from "../errors";
import { logger } from "../logger";
import type { ErasureRecord, RunRecord } from "../model";
import { objectKeys, stateVersionOf } from "../store/keys";
import { retryRunId } from "./abandon";
import { begin, crash, succeedRun } from "./lifecycle";
import { eraseFromMemberPages } from "./member-pages";
import { writeMembership } from "./membership";
import { decodeOutputs, encodeOutputs } from "./outputs";
import type { PipelineDeps } from "./run";
import { loadHistory, loadState, publish, type RetryOf, retryFields, runIdFor } from "./run";
import { scrubUpload } from "./scrub";

export interface ErasureEvent {
  tenantId: string;
  datasetId: string;
  erasureId: string;
  eventTime: string;
  /** Set when the service starts the work of an abandoned erasure run again (./abandon.ts). */
  retry?: RetryOf;
}

/** What an erasure works on: the event and the customer id its record holds. */
interface ErasureTask extends ErasureEvent {
  customerId: string;
}

export type ErasureOutcome =
  | { outcome: "completed"; erasure: ErasureRecord; run: RunRecord }
  /** The erasure was completed before (a redelivered event). */
  | { outcome: "duplicate"; runId: string }
  /** No such erasure record (or one that lost its customer id without completing): nothing is done. */
  | { outcome: "refused"; reason: string };

/**
 * Every segment a membership item of the layout before member pages (store/keys.ts) may exist for: the fixed
 * RFM and lifecycle segments, every cluster id the dataset has handed out, its rule segments, and every
 * segment any recorded run computed.
 */
async function legacySegmentIds(deps: PipelineDeps, tenantId: string, datasetId: string): Promise<string[]> {
  const { store } = deps;
  const ids = new Set<string>([...RFM_SEGMENTS, ...LIFECYCLE_STAGES].map((s) => s.id));
  const meta = await store.getDataset(tenantId, datasetId);
  for (const s of meta?.current?.segments ?? []) ids.add(s.id);
  for (const id of meta?.current?.clusters?.ids ?? []) ids.add(id);
  for (let n = 1; n < (meta?.current?.clusters?.nextId ?? 1); n++) ids.add(`cluster:c${n}`);
  for (const d of await store.listDefinitions(tenantId, datasetId)) ids.add(d.segmentId);
  let after: string | undefined;
  do {
    const page = await store.listRuns(tenantId, datasetId, 100, after);
    for (const run of page.items) for (const s of run.segments ?? []) ids.add(s.id);
    after = page.next;
  } while (after !== undefined);
  return [...ids];
}

/** Steps 4-7: what no reader needs once the version without the customer is committed. */
async function finish(deps: PipelineDeps, event: ErasureTask, run: RunRecord): Promise<ErasureRecord> {
  const { store, blobs } = deps;
  const { tenantId, datasetId, erasureId, customerId } = event;
  const deleted = await store.deleteCustomerItems(tenantId, datasetId, customerId, {
    segmentIds: await legacySegmentIds(deps, tenantId, datasetId),
  });
  const itemsDeleted = deleted.items;
  // The customer's membership history went with their item: its entries, committed or not.
  const historyItemsDeleted = deleted.historyEntries;
  // The files of s3 and audience destinations the service still holds (./destinations/member-files.ts).
  const destinationFilesRewritten = deps.destinationFiles
    ? await eraseFromMemberFiles({ files: deps.destinationFiles, blobs }, tenantId, datasetId, customerId)
    : 0;
  // The webhook bodies the service holds, pending or sent (./destinations/erase.ts).
  const deliveryPayloadsRewritten = await eraseFromDeliveryPayloads(
    blobs,
    tenantId,
    datasetId,
    customerId,
    deps.destinations,
  );
  // Only versions before the erasure's: a run that started after its commit may be writing a newer one.
  const below = run.version ?? 0;
  const stale = (await blobs.list(objectKeys.datasetPrefix("state", tenantId, datasetId))).filter(
    (key) => (stateVersionOf(key) ?? Number.POSITIVE_INFINITY) < below,
  );
  if (stale.length > 0) await blobs.delete(stale);
  await store.completeErasure({
    tenantId,
    datasetId,
    erasureId,
    completedAt: (deps.now ?? (() => new Date()))().toISOString(),
    runId: run.runId,
    ...(run.version !== undefined ? { version: run.version } : {}),
    customersErased: run.counts?.customersErased ?? 0,
    add: {
      itemsDeleted,
      stateObjectsDeleted: stale.length,
      historyItemsDeleted,
      destinationFilesRewritten,
      deliveryPayloadsRewritten,
    },
  });
  const done = await store.getErasure(tenantId, datasetId, erasureId);
  if (!done) throw new Error("The erasure record vanished");
  logger.info("Erasure completed", { datasetId, erasureId, runId: run.runId, counts: done.counts });
  return done;
}

/**
 * Writes every list segment that holds the customer's id anew without it (a new revision, whose record also
 * drops the last run's sample of unknown ids); a list changed meanwhile is read again. Returns the lists
 * rewritten.
 */
export async function eraseFromLists(
  deps: PipelineDeps,
  tenantId: string,
  datasetId: string,
  customerId: string,
): Promise<number> {
  const lists = deps.lists;
  if (!lists) return 0;
  let rewritten = 0;
  for (const first of await lists.listLists(tenantId, datasetId)) {
    for (let attempt = 0; ; attempt++) {
      const record = attempt === 0 ? first : await lists.getList(tenantId, datasetId, first.listId);
      if (!record) break;
      const ids = await lists.readIds(record);
      if (ids === undefined) {
        if (attempt >= 5) throw new RetryableError("LIST_CHANGING", "A list kept changing during an erasure");
        continue;
      }
      const kept = ids.filter((id) => id !== customerId);
      const sampled = record.lastRun?.unknownSample.includes(customerId) === true;
      if (kept.length === ids.length && !sampled) break;
      const { listId, name, description, createdAt } = record;
      const draft = { listId, name, ...(description !== undefined ? { description } : {}), createdAt };
      const saved = await lists.saveList(
        tenantId,
        datasetId,
        { ...draft, updatedAt: (deps.now ?? (() => new Date()))().toISOString() },
        kept,
        record,
      );
      if (saved) {
        rewritten++;
        break;
      }
      if (attempt >= 5) throw new RetryableError("LIST_CHANGING", "A list kept changing during an erasure");
    }
  }
  return rewritten;
}

export async function runErasure(deps: PipelineDeps, event: ErasureEvent): Promise<ErasureOutcome> {
  const { store, blobs } = deps;
  const { tenantId, datasetId, erasureId } = event;
  const now = deps.now ?? (() => new Date());
  const runId = event.retry ? retryRunId(event.retry) : runIdFor(event.eventTime, "erasure", erasureId);

  const erasure = await store.getErasure(tenantId, datasetId, erasureId);
  if (!erasure) return { outcome: "refused", reason: "ERASURE_NOT_FOUND" };
  if (erasure.status === "completed") return { outcome: "duplicate", runId };
  const customerId = erasure.customerId;
  if (customerId === undefined) return { outcome: "refused", reason: "CUSTOMER_ID_MISSING" };
  const task: ErasureTask = { ...event, customerId };

  const attempt = await begin(deps, {
    tenantId,
    datasetId,
    runId,
    trigger: "erasure",
    status: "running",
    startedAt: now().toISOString(),
    attempts: 1,
    ...retryFields(event.retry),
    redelivery: { kind: "erasure", erasureId, eventTime: event.eventTime },
  });
  if ("duplicate" in attempt) {
    // The run committed before a crash: only the steps after the commit are left.
    const run = await store.getRun(tenantId, datasetId, runId);
    // An abandoned run's work was started again as another run, which completes the erasure.
    if (run?.status === "abandoned") return { outcome: "duplicate", runId };
    if (run?.status !== "succeeded") throw new Error("An erasure run ended without succeeding");
    return { outcome: "completed", erasure: await finish(deps, task, run), run };
  }

  const { meta } = attempt;
  let run = attempt.run;
  try {
    const ids = new Set([customerId]);
    const timings: Record<string, number> = {};
    let t = performance.now();
    for (const upload of await store.listUploads(tenantId, datasetId)) {
      const result = await scrubUpload(blobs, upload, ids);
      if (result.outcome === "rewritten") {
        await store.recordUploadRewrite({
          tenantId,
          datasetId,
          uploadId: upload.uploadId,
          eTag: result.eTag,
          erasureId,
          counts: {
            uploadsRewritten: 1,
            rowsRemoved: result.counts.rowsRemoved,
            unreadableRowsDropped: result.counts.unreadableRows,
          },
        });
      } else if (result.outcome === "deleted") {
        await store.addErasureCounts(tenantId, datasetId, erasureId, { uploadsDeleted: 1 });
      }
    }
    timings.uploadsMs = Math.round(performance.now() - t);

    const listsRewritten = await eraseFromLists(deps, tenantId, datasetId, customerId);
    if (listsRewritten > 0) await store.addErasureCounts(tenantId, datasetId, erasureId, { listsRewritten });

    const exports = await blobs.list(objectKeys.datasetPrefix("exports", tenantId, datasetId));
    if (exports.length > 0) {
      await blobs.delete(exports);
      await store.addErasureCounts(tenantId, datasetId, erasureId, { exportsDeleted: exports.length });
    }

    if (meta.current?.source) {
      // A sharded dataset keeps no aggregate state: the committed views lose the customer now (their items
      // go in step 4), and a sharded refresh recomputes the figures from the rewritten upload.
      const key = objectKeys.outputs(tenantId, datasetId, meta.current.version);
      const bytes = await blobs.get(key);
      const outputs = bytes ? decodeOutputs(bytes) : new Map<string, string>();
      const view = outputs.get(customerId);
      const present = outputs.delete(customerId);
      if (present && view !== undefined) {
        // The version's member pages lose the customer's lines, its membership object the customer; the
        // outputs go last, so a retry after a crash still finds the customer and does the rest again.
        const { segments } = JSON.parse(view) as { segments: string[] };
        const version = meta.current.version;
        await eraseFromMemberPages(blobs, tenantId, datasetId, version, customerId, segments);
        const segmentIds = meta.current.segments.map((s) => s.id);
        await writeMembership(blobs, tenantId, datasetId, version, outputs, segmentIds);
        await blobs.put(key, encodeOutputs(outputs), "application/gzip");
      }
      // Their history (in their item, deleted in step 4) is not carried into the next version either.
      const history = await loadHistory(blobs, tenantId, datasetId, meta.current.version);
      if (history.delete(customerId)) {
        await blobs.put(
          objectKeys.history(tenantId, datasetId, meta.current.version),
          encodeOutputs(history),
          "application/gzip",
        );
      }
      run = {
        ...run,
        status: "succeeded",
        finishedAt: now().toISOString(),
        version: meta.current.version,
        counts: { customersErased: present ? 1 : 0 },
      };
      await succeedRun(deps, attempt, run);
      await deps.sharded?.start({
        kind: "refresh",
        tenantId,
        datasetId,
        runId: runIdFor(event.eventTime, "erasure-refresh", erasureId),
        time: event.eventTime,
        reason: "refresh",
      });
    } else if (meta.current) {
      t = performance.now();
      const loaded = await loadState(blobs, meta);
      const present = loaded.state.findCustomer(customerId) >= 0;
      const state = present ? loaded.state.withoutCustomers(ids) : loaded.state;
      timings.loadMs = Math.round(performance.now() - t);
      run = { ...run, counts: { customersErased: present ? 1 : 0 } };
      run = await publish(deps, attempt, run, state, loaded, timings, undefined, ids);
    } else {
      // No committed version, so nothing to publish; files of versions that never committed still go.
      const stale = (await blobs.list(objectKeys.datasetPrefix("state", tenantId, datasetId))).filter(
        (key) => stateVersionOf(key) !== undefined,
      );
      if (stale.length > 0) await blobs.delete(stale);
      await store.addErasureCounts(tenantId, datasetId, erasureId, { stateObjectsDeleted: stale.length });
      run = {
        ...run,
        status: "succeeded",
        finishedAt: now().toISOString(),
        counts: { customersErased: 0 },
      };
      await succeedRun(deps, attempt, run);
    }
  } catch (error) {
    return crash(deps, attempt, run, error);
  }
  return { outcome: "completed", erasure: await finish(deps, task, run), run };
}
