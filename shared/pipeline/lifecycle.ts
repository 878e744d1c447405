/**
 * The life of a run, whichever path runs it (an upload or refresh in one function, ./run.ts; a sharded run's
 * steps, ./sharded.ts; an erasure, ./erase.ts):
 *
 *  - the lease: a run holds its dataset's lease while it works, so runs of one dataset never interleave. A
 *    run in one function takes it waiting up to what its timeout leaves and renews it in the background (the
 *    heartbeat); a sharded run takes it under a fixed owner for the whole execution and renews it step by
 *    step;
 *  - its end: failed (announced unless a retry is promised), skipped (not announced), a crash (recorded and
 *    rethrown for the retry), or succeeded without a version to commit (an erasure with nothing to publish);
 *    then the dataset is let go;
 *  - the announcement on the bus after the commit: the run's end and the customers who entered or left each
 *    segment;
 *  - the upload gate: an object no upload request made creates nothing; the service's own rewrite of an
 *    upload (an erasure's) and a stale event (an older sequencer, or a replace older than the last applied)
 *    make no computation.
 */

import { randomUUID } from "node:crypto";
import { RetryableError } from "../errors";
import { errorFields, logger } from "../logger";
import type { DatasetMeta, RunRecord, UploadRecord } from "../model";
import { LEASE_WAIT_RESERVE_MS } from "../resources";
import { abandonRun, lapsedReason, runIdOfOwner } from "./abandon";
import { finalCrashMessage, isRetried, MAX_RUN_ATTEMPTS, retryingMessage } from "./messages";
import type { DatasetStore, EventPublisher, LeasedDataset, MembershipWrite, ServiceEvent } from "./ports";
import { shardedOwner } from "./sharded-contract";

/** What the lifecycle of a run needs; the pipeline's dependencies (./run.ts PipelineDeps) hold them. */
export interface LifecycleDeps {
  store: DatasetStore;
  /** Where run and membership-change events go; none when absent. */
  events?: EventPublisher;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** How long a dead attempt keeps the dataset before another may take it over. */
  leaseMs?: number;
  /** How long to wait for a dataset another run holds before giving up with DATASET_BUSY (default 0). */
  waitForLeaseMs?: number;
  /** Sleep between lease attempts; injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
}

/** A run renews its lease every third of it, so a dead attempt blocks its retry for at most this long. */
export const DEFAULT_LEASE_MS = 90_000;

/** How long a sharded run holds its dataset: the state machine's own timeout. */
export const SHARDED_LEASE_MS = 2 * 60 * 60 * 1000;

/** How a run's end is written and how the run lets its dataset go. */
export interface RunHold {
  release: () => Promise<void>;
  /**
   * Writes the run's end (`ended`) over the record as this attempt took it (`taken`); false when another
   * attempt closed the run meanwhile. Without it, the run is closed only as it was taken (closeAs).
   */
  close?: (ended: RunRecord, taken: RunRecord) => Promise<boolean>;
}

/** One attempt of a run holding the dataset's lease, renewed in the background until released. */
export interface Attempt extends RunHold {
  run: RunRecord;
  meta: DatasetMeta;
  owner: string;
}

/**
 * Starts or resumes the run of an event. A redelivered event whose run finished (or was abandoned and
 * started again as another run) is a duplicate; one whose run is still going (or died without a word) finds
 * the lease taken and is retried later, by which time the run has finished or its lease has lapsed. Taking
 * over the lapsed lease of another run's dead attempt closes that run as abandoned and starts its work again
 * (./abandon.ts), so no run stays `running` for good and no upload is dropped.
 */
export async function begin(deps: LifecycleDeps, run: RunRecord): Promise<Attempt | { duplicate: true }> {
  const { store } = deps;
  const existing = await store.createRun(run);
  if (existing && existing.status !== "running" && existing.status !== "failed") return { duplicate: true };
  if (existing?.status === "failed" && existing.error && !isRetried(existing.error.code)) {
    return { duplicate: true };
  }
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  const owner = `${run.runId}/${randomUUID()}`;
  const meta = await acquireWaiting(deps, run, owner, leaseMs);
  if (!meta) throw new RetryableError("DATASET_BUSY", "Another run holds the dataset");
  const release = heartbeat(store, run, owner, leaseMs);
  const { lapsedLease, ...held } = meta;
  if (lapsedLease) await closeDeadAttempt(deps, run, lapsedLease);
  if (!existing) return { run, meta: held, owner, release };
  // The previous attempt's end (a crash promising this retry) is not this attempt's.
  const { error: _error, finishedAt: _finishedAt, ...previous } = existing;
  const resumed: RunRecord = { ...previous, status: "running", attempts: existing.attempts + 1 };
  // Resumed only as it was seen: a run abandoned (or finished) meanwhile is not taken back.
  if (!(await store.closeRun(resumed, { status: existing.status, attempts: existing.attempts }))) {
    await release();
    return { duplicate: true };
  }
  return { run: resumed, meta: held, owner, release };
}

/** Renews the lease every third of its length until the returned release, which lets the dataset go once. */
function heartbeat(store: DatasetStore, run: RunRecord, owner: string, leaseMs: number): () => Promise<void> {
  let released = false;
  const timer = setInterval(() => {
    store.renewLock(run.tenantId, run.datasetId, owner, leaseMs).catch((error) => {
      logger.warn("Could not renew the lease", { runId: run.runId, ...errorFields(error) });
    });
  }, leaseMs / 3);
  timer.unref();
  return async () => {
    clearInterval(timer);
    if (released) return;
    released = true;
    await store.releaseLock(run.tenantId, run.datasetId, owner);
  };
}

/** Closes the run whose attempt died holding the lease just taken over, unless it is the run itself. */
async function closeDeadAttempt(
  deps: LifecycleDeps,
  run: RunRecord,
  lapsed: { owner: string; until: number },
): Promise<void> {
  const deadRunId = runIdOfOwner(lapsed.owner);
  // The run's own retry after its attempt died: it resumes the run (`attempts` counts it).
  if (deadRunId === run.runId) return;
  try {
    const dead = await deps.store.getRun(run.tenantId, run.datasetId, deadRunId);
    if (dead?.status !== "running") return;
    await abandonRun(deps, dead, lapsedReason(lapsed.until));
  } catch (error) {
    // The sweeper closes it on its next pass.
    logger.error("Could not close the abandoned run", { runId: deadRunId, ...errorFields(error) });
  }
}

/** How long a function invocation may wait for a busy dataset: what its timeout leaves beyond a run's time. */
export function leaseWait(context: { getRemainingTimeInMillis(): number } | undefined): number {
  return context ? Math.max(0, context.getRemainingTimeInMillis() - LEASE_WAIT_RESERVE_MS) : 0;
}

/** Takes the dataset's lease, polling with capped, jittered backoff for up to `waitForLeaseMs`. */
async function acquireWaiting(
  deps: LifecycleDeps,
  run: RunRecord,
  owner: string,
  leaseMs: number,
): Promise<LeasedDataset | undefined> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((ok) => setTimeout(ok, ms)));
  const clock = () => (deps.now ? deps.now().getTime() : Date.now());
  const deadline = clock() + Math.max(0, deps.waitForLeaseMs ?? 0);
  for (let attempt = 0; ; attempt++) {
    const meta = await deps.store.acquireLock(run.tenantId, run.datasetId, owner, leaseMs);
    if (meta) return meta;
    const left = deadline - clock();
    if (left <= 0) return undefined;
    const delay = Math.min(left, Math.min(10_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2));
    if (attempt === 0) logger.info("Waiting for the dataset's lease", { runId: run.runId });
    await sleep(delay);
  }
}

/**
 * A sharded run's hold on its dataset, under the fixed owner every step of the execution shares: taken by
 * the plan step for as long as the execution may last, renewed by the later steps, its end written as is
 * (the run record of a sharded run has one writer at a time, the execution).
 */
export function shardedHold(
  store: DatasetStore,
  run: Pick<RunRecord, "tenantId" | "datasetId" | "runId">,
): Required<RunHold> & {
  owner: string;
  /** Takes the dataset; undefined when another run holds it. */
  acquire: () => Promise<LeasedDataset | undefined>;
  /** Extends the hold; false when it was lost (it lapsed and another run took the dataset). */
  renew: () => Promise<boolean>;
} {
  const owner = shardedOwner(run.runId);
  return {
    owner,
    acquire: () => store.acquireLock(run.tenantId, run.datasetId, owner, SHARDED_LEASE_MS),
    renew: () => store.renewLock(run.tenantId, run.datasetId, owner, SHARDED_LEASE_MS),
    release: () => store.releaseLock(run.tenantId, run.datasetId, owner),
    close: async (ended) => {
      await store.putRun(ended);
      return true;
    },
  };
}

/**
 * Closes the run as it was when this attempt took it (status running, its attempt count): a run the sweeper
 * abandoned meanwhile keeps that record, which names the run doing its work again.
 */
async function closeAs(deps: LifecycleDeps, run: RunRecord, closed: RunRecord): Promise<boolean> {
  const done = await deps.store.closeRun(closed, { status: run.status, attempts: run.attempts });
  if (!done) logger.warn("The run was closed by another attempt meanwhile", { runId: run.runId });
  return done;
}

function closeRun(deps: LifecycleDeps, hold: RunHold, run: RunRecord, ended: RunRecord): Promise<boolean> {
  return hold.close ? hold.close(ended, run) : closeAs(deps, run, ended);
}

/** Records the run as failed and lets the dataset go; announced unless a retry is promised (RETRY_ codes). */
export async function failRun(
  deps: LifecycleDeps,
  hold: RunHold,
  run: RunRecord,
  code: string,
  message: string,
): Promise<RunRecord> {
  const failed: RunRecord = {
    ...run,
    status: "failed",
    finishedAt: (deps.now ?? (() => new Date()))().toISOString(),
    error: { code, message },
  };
  const closed = await closeRun(deps, hold, run, failed);
  await hold.release();
  if (closed && !isRetried(code)) await announce(deps, [runEvent(failed)]);
  return failed;
}

/** Records the run as skipped (nothing failed, nothing was to be done) and lets the dataset go. */
export async function skipRun(
  deps: LifecycleDeps,
  hold: RunHold,
  run: RunRecord,
  code: string,
  message: string,
  changes: Partial<RunRecord> = {},
): Promise<RunRecord> {
  const skipped: RunRecord = {
    ...run,
    ...changes,
    status: "skipped",
    finishedAt: (deps.now ?? (() => new Date()))().toISOString(),
    error: { code, message },
  };
  await closeRun(deps, hold, run, skipped);
  await hold.release();
  return skipped;
}

/**
 * Records a crash on the run and rethrows it for the invoke's retry. The run says it will be retried unless
 * this was its last attempt, when it fails for good with what the user can do.
 */
export async function crash<D extends LifecycleDeps>(
  deps: D,
  attempt: RunHold,
  run: RunRecord,
  error: unknown,
): Promise<never> {
  const base = error instanceof RetryableError ? error.code : "INTERNAL";
  const last = run.attempts >= MAX_RUN_ATTEMPTS;
  logger.error(last ? "Run crashed on its last attempt" : "Run crashed; it will be retried", {
    runId: run.runId,
    attempts: run.attempts,
    ...errorFields(error),
  });
  try {
    if (last) await failRun(deps, attempt, run, base, finalCrashMessage(run.trigger, base, run.attempts));
    else await failRun(deps, attempt, run, `RETRY_${base}`, retryingMessage(base));
  } catch (recordError) {
    logger.error("Could not record the crash", { runId: run.runId, ...errorFields(recordError) });
  }
  throw error;
}

/** Customer ids per membership event: well under EventBridge's 256 KB an entry with ids of 128 characters. */
export const IDS_PER_EVENT = 500;

export const CHANGE_DETAIL_TYPES = {
  runFinished: "Run Finished",
  membershipChanged: "Segment Membership Changed",
} as const;

export function runEvent(run: RunRecord): ServiceEvent {
  return {
    detailType: CHANGE_DETAIL_TYPES.runFinished,
    detail: {
      tenantId: run.tenantId,
      datasetId: run.datasetId,
      runId: run.runId,
      trigger: run.trigger,
      status: run.status,
      ...(run.version !== undefined ? { version: run.version } : {}),
      ...(run.counts ? { counts: run.counts } : {}),
      ...(run.error ? { error: { code: run.error.code } } : {}),
    },
  };
}

/**
 * Customers who entered or left each segment in this run, batched per segment. Rewrites that change nothing
 * (the repair of an aborted run) are not changes.
 */
export function membershipEvents(run: RunRecord, writes: readonly MembershipWrite[]): ServiceEvent[] {
  const bySegment = new Map<string, { entered: string[]; left: string[] }>();
  for (const w of writes) {
    if (w.member === w.previous) continue;
    let entry = bySegment.get(w.segmentId);
    if (!entry) {
      entry = { entered: [], left: [] };
      bySegment.set(w.segmentId, entry);
    }
    (w.member ? entry.entered : entry.left).push(w.customerId);
  }
  const events: ServiceEvent[] = [];
  for (const [segmentId, { entered, left }] of [...bySegment].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const all = [
      ...entered.map((id) => ["entered", id] as const),
      ...left.map((id) => ["left", id] as const),
    ];
    const parts = Math.ceil(all.length / IDS_PER_EVENT);
    for (let p = 0; p < parts; p++) {
      const slice = all.slice(p * IDS_PER_EVENT, (p + 1) * IDS_PER_EVENT);
      events.push({
        detailType: CHANGE_DETAIL_TYPES.membershipChanged,
        detail: {
          tenantId: run.tenantId,
          datasetId: run.datasetId,
          runId: run.runId,
          version: run.version,
          segmentId,
          part: p + 1,
          parts,
          entered: slice.filter(([kind]) => kind === "entered").map(([, id]) => id),
          left: slice.filter(([kind]) => kind === "left").map(([, id]) => id),
        },
      });
    }
  }
  return events;
}

/** Publishes after the commit; a bus failure is logged, never undoes or fails a committed run. */
export async function announce(deps: Pick<LifecycleDeps, "events">, events: ServiceEvent[]): Promise<void> {
  if (!deps.events || events.length === 0) return;
  try {
    await deps.events.publish(events);
  } catch (error) {
    logger.error("Could not publish the run's events", { count: events.length, ...errorFields(error) });
  }
}

/**
 * Ends a run that succeeded without committing a version through the store (an erasure of a sharded dataset,
 * or of a dataset with no version yet): its record written as is, the dataset let go, its end announced.
 */
export async function succeedRun(deps: LifecycleDeps, hold: RunHold, run: RunRecord): Promise<void> {
  await deps.store.putRun(run);
  await hold.release();
  await announce(deps, [runEvent(run)]);
}

/** Announces a committed run: its end, then the customers who entered or left each segment. */
export function announceCommitted(
  deps: Pick<LifecycleDeps, "events">,
  run: RunRecord,
  memberships: readonly MembershipWrite[],
): Promise<void> {
  return announce(deps, [runEvent(run), ...membershipEvents(run, memberships)]);
}

/** The upload an object event names; undefined when no upload request made the object (it creates nothing). */
export async function uploadOf(
  store: DatasetStore,
  event: { tenantId: string; datasetId: string; uploadId: string; key: string },
): Promise<UploadRecord | undefined> {
  const upload = await store.getUpload(event.tenantId, event.datasetId, event.uploadId);
  return upload && upload.key === event.key ? upload : undefined;
}

/** Whether the object is the service's own rewrite of the upload (an erasure's): not an upload, no run. */
export function isErasureRewrite(upload: UploadRecord | undefined, eTag: string | undefined): boolean {
  return eTag !== undefined && upload?.erasureEtags?.includes(eTag) === true;
}

function compareSequencers(a: string, b: string): number {
  const width = Math.max(a.length, b.length);
  const pa = a.padStart(width, "0");
  const pb = b.padStart(width, "0");
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** Whether a newer event of the upload (a later sequencer), or a later replace upload, was applied already. */
export function isStale(upload: UploadRecord, event: { sequencer: string }, meta: DatasetMeta): boolean {
  if (
    upload.appliedSequencer !== undefined &&
    compareSequencers(event.sequencer, upload.appliedSequencer) <= 0
  ) {
    return true;
  }
  return (
    upload.mode === "replace" &&
    meta.lastReplaceUploadAt !== undefined &&
    upload.createdAt < meta.lastReplaceUploadAt
  );
}

/**
 * The gate an upload's run passes holding the lease: the service's own rewrite is skipped (recorded as part
 * of the erasure), a stale event too; either ends the run and lets the dataset go. `rewriteOf` is the upload
 * record the ETag is looked up in (default `upload`): the one path that reads it again under the lease passes
 * that reading. Undefined: the run goes on.
 */
export async function gateUpload(
  deps: LifecycleDeps,
  hold: RunHold,
  run: RunRecord,
  meta: DatasetMeta,
  upload: UploadRecord,
  event: { sequencer: string; eTag?: string },
  rewriteOf: UploadRecord | undefined = upload,
): Promise<"skipped" | "stale" | undefined> {
  if (isErasureRewrite(rewriteOf, event.eTag)) {
    await skipRun(
      deps,
      hold,
      run,
      "ERASURE_REWRITE",
      "The service rewrote the uploaded file without the erased customer; the rewrite is not an upload and is not computed again",
      { trigger: "erasure" },
    );
    return "skipped";
  }
  if (isStale(upload, event, meta)) {
    await skipRun(deps, hold, run, "STALE_EVENT", "A newer upload has already been applied");
    return "stale";
  }
  return undefined;
}
