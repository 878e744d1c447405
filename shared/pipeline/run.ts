/**
 * The pipeline: ingest an upload into the dataset's aggregate state, or refresh the time-dependent scores from
 * the stored state, then publish the result as a new version. Every run
 *  - holds the dataset's lease, so runs of one dataset never interleave;
 *  - writes its state and view to S3 under its own version before touching the table;
 *  - writes only the customers whose view changed, then switches the committed version in one transaction.
 * A run that fails on its input is recorded as failed and not retried; a run that fails for any other reason
 * rethrows so the asynchronous invoke retries it, and the retry repairs whatever it had half-written.
 */

import { createHash } from "node:crypto";
import { type Contacts, contactsOf, writeContacts } from "../destinations/contacts";
import type { ExternalBucketWriter } from "../destinations/member-files";
import { planDeliveries } from "../destinations/plan";
import type { DeliveryQueue, DestinationStore } from "../destinations/ports";
import {
  AggregateState,
  type ComputedSegmentation,
  type ComputeSettings,
  computeSegments,
  dayNumber,
  evaluationDate,
  FileError,
  type IngestReport,
  ingestCustomers,
  type ListSegmentSettings,
  listMembership,
  type RowError,
  rfmGrid,
  valueHistogram,
} from "../engine";
import { ingestPinpointEndpoints, type PinpointCounts } from "../engine/pinpoint";
import { RetryableError } from "../errors";
import type { Histories } from "../history/entries";
import { type LoadedList, listFingerprints, listSettings, loadLists } from "../lists/load";
import type { ListStore } from "../lists/ports";
import { errorFields, logger } from "../logger";
import {
  type LookalikeRecord,
  type LookalikeStore,
  lookalikeFingerprints,
  lookalikeSettings,
} from "../lookalikes/ports";
import type {
  CurrentVersion,
  DatasetMeta,
  DatasetSettings,
  RunRecord,
  SegmentDefinitionRecord,
} from "../model";
import { objectKeys } from "../store/keys";
import { S3MemberPages } from "../store/member-pages";
import { retryRunId } from "./abandon";
import {
  type Attempt,
  announceCommitted,
  begin,
  crash,
  failRun,
  gateUpload,
  isErasureRewrite,
  skipRun,
  uploadOf,
} from "./lifecycle";
import { type MemberPages, writeMembershipAndPages } from "./member-pages";
import {
  decodeOutputs,
  diffOutputs,
  encodeOutputs,
  type Outputs,
  outputsAndProfiles,
} from "./outputs";
import type {
  BlobStore,
  CustomerWrite,
  DatasetStore,
  EventPublisher,
  MembershipWrite,
  ShardedRuns,
} from "./ports";
import { computeProfiles, writeProfiles } from "./profiles";
import { readUploadTransactions } from "./read-upload";
import { runIdFor } from "./run-id";
import { erasedAmong, scrubUpload } from "./scrub";
import { writeTraitSnapshot } from "./trait-snapshot";

export {
  type Attempt,
  announce,
  begin,
  CHANGE_DETAIL_TYPES,
  crash,
  IDS_PER_EVENT,
  isStale,
  leaseWait,
  membershipEvents,
  runEvent,
  skipRun,
} from "./lifecycle";
export { runIdFor } from "./run-id";

export interface PipelineDeps {
  store: DatasetStore;
  blobs: BlobStore;
  /** The versions' member pages, which destination files are written from; default: read from `blobs`. */
  members?: MemberPages;
  /** Where run and membership-change events go; none when absent. */
  events?: EventPublisher;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** How long a dead attempt keeps the dataset before another may take it over. */
  leaseMs?: number;
  /** Rejected rows kept in a report; all are counted. */
  maxReportedRows?: number;
  /**
   * How long to wait for a dataset another run holds before giving up with DATASET_BUSY (default 0). A
   * function passes what its own timeout leaves, so uploads arriving together run one after the other
   * instead of exhausting the asynchronous invoke's retries.
   */
  waitForLeaseMs?: number;
  /** Sleep between lease attempts; injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Where uploads too large for one function, and refreshes of sharded datasets, go; none: all run here. */
  sharded?: ShardedRuns;
  /** List segments (shared/lists); none: no list segment is computed. */
  lists?: ListStore;
  /** Lookalike segments (shared/lookalikes); none: no lookalike is computed. */
  lookalikes?: LookalikeStore;
  /** Writes the files of s3 and audience destinations; none: no destination file is written or rewritten. */
  destinationFiles?: ExternalBucketWriter;
  /** The dataset's destinations; none: nothing is delivered after a run. */
  destinations?: DestinationStore;
  /** Wakes the webhook delivery worker after deliveries are planned. */
  deliveryQueue?: DeliveryQueue;
}

export interface UploadEvent {
  tenantId: string;
  datasetId: string;
  uploadId: string;
  key: string;
  sequencer: string;
  eventTime: string;
  /** The object's ETag as the S3 event reports it (no quotes); recognises the service's own rewrites. */
  eTag?: string;
  /** The object's size as the S3 event reports it. */
  size?: number;
  /** Set when the service starts the work of an abandoned run again (./sweep.ts). */
  retry?: RetryOf;
}

/** The abandoned run whose work a run does again, and how many runs of that work were abandoned so far. */
export interface RetryOf {
  runId: string;
  abandonments: number;
  /** When the work was started again; names the new run, so a redelivered request maps to the same run. */
  requeuedAt: string;
}

/** The fields a run started again records: which run it does again, and the count of abandonments. */
export function retryFields(retry: RetryOf | undefined): Partial<RunRecord> {
  return retry
    ? { retryOf: retry.runId, abandonments: retry.abandonments, requeuedAt: retry.requeuedAt }
    : {};
}

export type RunOutcome =
  | { outcome: "succeeded"; run: RunRecord }
  | { outcome: "failed"; run: RunRecord }
  | { outcome: "duplicate"; runId: string }
  | { outcome: "stale"; runId: string }
  | { outcome: "skipped"; runId: string }
  /** Handed to a sharded run (Step Functions), which records its own outcome. */
  | { outcome: "sharded"; runId: string }
  /** A refresh that would compute what the committed version already holds: no run, no version. */
  | { outcome: "unchanged"; version: number }
  /** An object under uploads/ that no upload request made: nothing is created. */
  | { outcome: "ignored"; reason: "UNKNOWN_UPLOAD" };

/** Rejected rows as the CSV report keeps them (the first `cap`), and how many there were. */
/**
 * The latest order_date an upload processed at `now` accepts: the day after the processing day (UTC), so
 * that an order placed today in a time zone ahead of UTC is not refused; later rows are FUTURE_DATE.
 */
export function latestOrderDay(now: Date): number {
  return dayNumber(now.toISOString().slice(0, 10)) + 1;
}

export class ReportCollector {
  /** `line` is the file's line number (1 = the header) where the rejected record starts. */
  readonly lines: string[] = ["line,column,code,reason"];
  count = 0;
  constructor(private readonly cap: number) {}
  add = (e: RowError) => {
    this.count++;
    if (this.lines.length <= this.cap) {
      const reason = e.reason.replace(/"/g, '""');
      this.lines.push(`${e.row},${e.column ?? ""},${e.code},"${reason}"`);
    }
  };
}

/** What the committed version holds that the next run builds on: its views and every customer's history. */
export interface Committed {
  outputs: Outputs;
  history: Histories;
}

export async function loadState(
  blobs: BlobStore,
  meta: DatasetMeta,
): Promise<Committed & { state: AggregateState }> {
  const current = meta.current;
  if (!current) return { state: new AggregateState(), outputs: new Map(), history: new Map() };
  const [stateBytes, outputBytes, history] = await Promise.all([
    blobs.get(objectKeys.aggregate(meta.tenantId, meta.datasetId, current.version)),
    blobs.get(objectKeys.outputs(meta.tenantId, meta.datasetId, current.version)),
    loadHistory(blobs, meta.tenantId, meta.datasetId, current.version),
  ]);
  if (!stateBytes || !outputBytes) {
    throw new RetryableError("STATE_MISSING", `The state of version ${current.version} is missing`);
  }
  return { state: AggregateState.deserialize(stateBytes), outputs: decodeOutputs(outputBytes), history };
}

/**
 * Every customer's membership history at a committed version. A version committed before histories were kept
 * in the customer item has no history file: its history starts empty.
 */
export async function loadHistory(
  blobs: BlobStore,
  tenantId: string,
  datasetId: string,
  version: number,
): Promise<Histories> {
  const bytes = await blobs.get(objectKeys.history(tenantId, datasetId, version));
  return bytes ? decodeOutputs(bytes) : new Map();
}

export async function loadAborted(blobs: BlobStore, meta: DatasetMeta): Promise<Outputs | undefined> {
  if (!meta.pending) return undefined;
  const bytes = await blobs.get(objectKeys.outputs(meta.tenantId, meta.datasetId, meta.pending.version));
  // No outputs file: the aborted run died before it could write anything to the table.
  return bytes ? decodeOutputs(bytes) : undefined;
}

/**
 * Computes, writes and commits a new version from a state; shared by uploads, refreshes and erasures. The
 * commit releases the lease. The history of the customers in `erased` ends here: the new version's history
 * file has no line of them (their items, history included, are deleted after the commit).
 */
export async function publish(
  deps: PipelineDeps,
  attempt: Attempt,
  run: RunRecord,
  state: AggregateState,
  previous: Committed,
  timings: Record<string, number>,
  upload?: { uploadId: string; sequencer: string; replaceCreatedAt?: string; erasureEtag?: string },
  erased?: ReadonlySet<string>,
): Promise<RunRecord> {
  const committed = previous.outputs;
  const { store, blobs } = deps;
  const { meta, owner } = attempt;
  const now = deps.now ?? (() => new Date());
  const asOf = evaluationDate(meta.settings.asOf, now());
  const definitions = await store.listDefinitions(meta.tenantId, meta.datasetId);
  const lists = await loadLists(deps.lists, meta.tenantId, meta.datasetId);
  const lookalikes = await loadLookalikes(deps, meta.tenantId, meta.datasetId);
  const inputs = inputsFingerprint(
    meta.settings,
    definitions,
    asOf,
    listFingerprints(lists.map((l) => l.record)),
    lookalikeFingerprints(lookalikes),
  );
  let t = performance.now();
  const result = computeSegments(
    state,
    computeSettingsFor(meta, asOf, definitions, listSettings(lists), lookalikes),
  );
  const { outputs, profiles } = outputsAndProfiles(result);
  const segments = result.segments.map((s) => ({ ...s, profile: profiles.get(s.id) }));
  const liftProfiles = computeProfiles(result, meta.settings);
  timings.computeMs = Math.round(performance.now() - t);
  for (const [stage, ms] of Object.entries(result.timings)) timings[`${stage}Ms`] = Math.round(ms);

  t = performance.now();
  const version = Math.max(meta.current?.version ?? 0, meta.pending?.version ?? 0) + 1;
  const aborted = await loadAborted(blobs, meta);
  const diff = diffOutputs(committed, outputs, aborted, {
    version,
    committed: previous.history,
    ...(erased ? { forget: erased } : {}),
  });
  await store.markPending(meta.tenantId, meta.datasetId, owner, run.runId, version);
  await Promise.all([
    blobs.put(
      objectKeys.aggregate(meta.tenantId, meta.datasetId, version),
      state.serialize(),
      "application/octet-stream",
    ),
    blobs.put(
      objectKeys.outputs(meta.tenantId, meta.datasetId, version),
      encodeOutputs(outputs),
      "application/gzip",
    ),
    writeTraitSnapshot(blobs, meta.tenantId, meta.datasetId, version, result),
    writeMembershipAndPages(
      blobs,
      meta.tenantId,
      meta.datasetId,
      version,
      outputs,
      result.segments.map((s) => s.id),
    ),
    writeContacts(blobs, meta.tenantId, meta.datasetId, version, state, meta.settings),
    writeProfiles(blobs, meta.tenantId, meta.datasetId, version, liftProfiles),
    blobs.put(
      objectKeys.history(meta.tenantId, meta.datasetId, version),
      encodeOutputs(diff.history),
      "application/gzip",
    ),
  ]);
  const customersWritten = await store.writeCustomers(meta.tenantId, meta.datasetId, version, diff.customers);
  // Entries ride in the customer items just written: no item of their own.
  const historyWritten = diff.historyEntries;
  timings.writeMs = Math.round(performance.now() - t);

  const finishedAt = now().toISOString();
  const current = currentVersionOf(result, {
    version,
    runId: run.runId,
    asOf,
    completedAt: finishedAt,
    orderCount: state.orderCount,
    segments,
    inputs,
  });
  const done: RunRecord = {
    ...run,
    status: "succeeded",
    finishedAt,
    version,
    asOf,
    counts: {
      ...run.counts,
      customers: result.customerCount,
      orders: state.orderCount,
      customersWritten,
      historyWritten,
    },
    timingsMs: { ...timings, totalMs: Date.parse(finishedAt) - Date.parse(run.startedAt) },
    segments: result.segments,
  };
  await store.commit({
    tenantId: meta.tenantId,
    datasetId: meta.datasetId,
    owner,
    run: done,
    current,
    ...(upload ? { upload } : {}),
  });
  await attempt.release();
  await announceCommitted(deps, done, diff.memberships);
  await serveDestinations(deps, done, deliverable(done, diff), () => contactsOf(state, meta.settings));
  await recordListRuns(deps, done, lists, result);
  return done;
}

/**
 * Tells each list what the committed run found of it (members, ids that are no customers, a sample of them)
 * for the list answer; a failure is logged, never fails a committed run.
 */
export async function recordListRuns(
  deps: PipelineDeps,
  run: RunRecord,
  lists: readonly LoadedList[],
  result: ComputedSegmentation,
): Promise<void> {
  const store = deps.lists;
  if (!store || lists.length === 0 || run.version === undefined) return;
  const version = run.version;
  try {
    await Promise.all(
      lists.map(({ record, ids }) => {
        const found = listMembership(result, ids);
        let members = 0;
        for (const bit of found.members) members += bit;
        return store.recordRun(run.tenantId, run.datasetId, record.listId, {
          version,
          runId: run.runId,
          revision: record.revision,
          members,
          unknownIds: found.unknownIds,
          unknownSample: found.unknownSample,
        });
      }),
    );
  } catch (error) {
    logger.error("Could not record the run's findings on the lists", {
      count: lists.length,
      ...errorFields(error),
    });
  }
}

/** What a run that computed `result` commits as the dataset's current version. */
export function currentVersionOf(
  result: ComputedSegmentation,
  fields: Pick<
    CurrentVersion,
    "version" | "runId" | "asOf" | "completedAt" | "orderCount" | "segments" | "source" | "inputs"
  >,
): CurrentVersion {
  const { r, f, m, clv } = result.columns;
  return {
    ...fields,
    customerCount: result.customerCount,
    distributions: { rfmGrid: rfmGrid(r, f, m), ...(clv ? { clv: valueHistogram(clv) } : {}) },
    ...(result.clusters
      ? {
          clusters: {
            k: result.clusters.k,
            inertia: result.clusters.inertia,
            featureNames: result.clusters.featureNames,
            ids: result.clusters.ids,
            descriptions: result.clusters.descriptions,
            centroids: result.clusters.centroids,
            nextId: result.clusters.nextId,
          },
        }
      : {}),
    ...(result.value ? { value: { ...result.value } } : {}),
    ...(result.servedValue ? { servedValue: JSON.stringify(result.servedValue) } : {}),
    ...(result.nextBestCategory ? { nextBestCategory: result.nextBestCategory } : {}),
    ...(result.issues.length > 0
      ? {
          issues: result.issues.map(({ code, message, stage, segment }) => ({
            code,
            message,
            stage,
            ...(segment ? { segment } : {}),
          })),
        }
      : {}),
  };
}

/**
 * What a version is computed from besides its aggregate state: the settings that change results (all but the
 * refresh switch), the rule segments and the evaluation date, hashed in a canonical form (key order, as
 * DynamoDB returns maps in any order, does not count).
 */
export function inputsFingerprint(
  settings: DatasetSettings,
  definitions: readonly SegmentDefinitionRecord[],
  asOf: string,
  /** The list segments (lists/load.ts listFingerprints); none leaves the fingerprint as it was before lists. */
  lists: readonly unknown[] = [],
  /** The lookalikes (lookalikeFingerprints); none leaves the fingerprint as it was before lookalikes. */
  lookalikes: readonly unknown[] = [],
): string {
  const { scheduledRefresh: _refresh, ...computing } = settings;
  const rules = definitions.map((d) => ({
    id: d.segmentId,
    name: d.name,
    description: d.description ?? null,
    rule: d.rule,
  }));
  return createHash("sha256")
    .update(
      canonicalJson({
        settings: computing,
        rules,
        asOf,
        ...(lists.length > 0 ? { lists } : {}),
        ...(lookalikes.length > 0 ? { lookalikes } : {}),
      }),
    )
    .digest("base64url");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The membership changes destinations are told of. The customers an erasure run removes are not among them:
 * that they left their segments would name them to every webhook after their erasure was asked for.
 */
export function deliverable(
  run: RunRecord,
  diff: { customers: readonly CustomerWrite[]; memberships: readonly MembershipWrite[] },
): readonly MembershipWrite[] {
  if (run.trigger !== "erasure") return diff.memberships;
  const removed = new Set(diff.customers.filter((c) => c.view === null).map((c) => c.customerId));
  return diff.memberships.filter((m) => !removed.has(m.customerId));
}

/**
 * Plans the committed run's webhook deliveries and writes its destination files (destinations/plan.ts);
 * logs what failed, never fails the run. When every destination was served the run is marked so
 * (`destinationsServedAt`); a run left unmarked, its process having died or a destination having failed, is
 * served again by the sweeper (./unserved.ts), `replay` telling planning to leave out what the
 * outbox already holds. Returns whether the run was marked.
 */
export async function serveDestinations(
  deps: PipelineDeps,
  run: RunRecord,
  memberships: readonly MembershipWrite[],
  contacts: () => Contacts | Promise<Contacts>,
  replay = false,
): Promise<boolean> {
  if (!deps.destinations) return false;
  try {
    const summary = await planDeliveries(
      {
        destinations: deps.destinations,
        blobs: deps.blobs,
        members: deps.members ?? new S3MemberPages(deps.blobs),
        ...(deps.deliveryQueue ? { deliveryQueue: deps.deliveryQueue } : {}),
        ...(deps.destinationFiles ? { files: deps.destinationFiles } : {}),
        ...(deps.now ? { now: deps.now } : {}),
      },
      { run, memberships, contacts: await contacts(), ...(replay ? { replay } : {}) },
    );
    if (summary.deliveriesEnqueued > 0 || summary.filesWritten > 0 || summary.failedDestinations > 0)
      logger.info("Destinations served", { datasetId: run.datasetId, runId: run.runId, replay, ...summary });
    if (summary.failedDestinations > 0) return false;
    const at = (deps.now ?? (() => new Date()))().toISOString();
    await deps.store.markDestinationsServed(run.tenantId, run.datasetId, run.runId, at);
    return true;
  } catch (error) {
    logger.error("Could not serve the run's destinations", {
      datasetId: run.datasetId,
      runId: run.runId,
      ...errorFields(error),
    });
    return false;
  }
}

/** The lookalikes of a dataset as runs read them; none without a lookalike store. */
export async function loadLookalikes(
  deps: Pick<PipelineDeps, "lookalikes">,
  tenantId: string,
  datasetId: string,
): Promise<LookalikeRecord[]> {
  return (await deps.lookalikes?.listLookalikes(tenantId, datasetId)) ?? [];
}

/**
 * The engine's settings for a run: the dataset's settings, its rule segments, lists and lookalikes, and the
 * last cluster model. A lookalike that names no attributes reads the profile attributes when the dataset sets
 * them, else every attribute but the contact and consent ones (the engine's default choice).
 */
/** The dataset's next best category settings as the engine takes them; nothing when all are defaults. */
function nextBestCategoryFor(settings: DatasetMeta["settings"]): Pick<ComputeSettings, "nextBestCategory"> {
  const nbc = settings.nextBestCategory;
  if (nbc?.enabled === false) return { nextBestCategory: false };
  const k = settings.profiles?.k;
  const chosen = {
    ...(nbc?.family !== undefined ? { family: nbc.family } : {}),
    ...(nbc?.holdoutDays !== undefined ? { holdoutDays: nbc.holdoutDays } : {}),
    ...(k !== undefined ? { k } : {}),
  };
  return Object.keys(chosen).length > 0 ? { nextBestCategory: chosen } : {};
}

export function computeSettingsFor(
  meta: DatasetMeta,
  asOf: string,
  definitions: readonly SegmentDefinitionRecord[],
  lists: readonly ListSegmentSettings[] = [],
  lookalikes: readonly LookalikeRecord[] = [],
): ComputeSettings {
  const { lifecycle, rfm, clusters, value } = meta.settings;
  const previous = meta.current?.clusters;
  return {
    asOf,
    ...(lifecycle ? { lifecycle } : {}),
    ...(rfm ? { rfm } : {}),
    ...(meta.settings.segmentBy?.length ? { attributeFamilies: meta.settings.segmentBy } : {}),
    clusters:
      clusters?.enabled === false
        ? false
        : {
            ...(clusters?.k !== undefined ? { k: clusters.k } : {}),
            ...(clusters?.kMin !== undefined ? { kMin: clusters.kMin } : {}),
            ...(clusters?.kMax !== undefined ? { kMax: clusters.kMax } : {}),
            ...(clusters?.seed !== undefined ? { seed: clusters.seed } : {}),
            ...(previous
              ? {
                  previous: {
                    featureNames: previous.featureNames,
                    ids: previous.ids,
                    centroids: previous.centroids,
                    nextId: previous.nextId,
                  },
                }
              : {}),
          },
    value:
      value?.enabled === false
        ? false
        : {
            ...(value?.horizonDays !== undefined ? { horizonDays: value.horizonDays } : {}),
            ...(value?.annualDiscountRate !== undefined
              ? { annualDiscountRate: value.annualDiscountRate }
              : {}),
            ...(value?.holdoutDays !== undefined ? { holdoutDays: value.holdoutDays } : {}),
            ...(value?.model !== undefined ? { model: value.model } : {}),
          },
    rules: definitions.map((d) => ({
      id: d.segmentId,
      name: d.name,
      ...(d.description !== undefined ? { description: d.description } : {}),
      rule: d.rule,
    })),
    ...(lists.length > 0 ? { lists } : {}),
    ...nextBestCategoryFor(meta.settings),
    ...(lookalikes.length > 0
      ? {
          lookalikes: lookalikeSettings(lookalikes, {
            ...(meta.settings.profiles?.attributes !== undefined
              ? { attributes: meta.settings.profiles.attributes }
              : {}),
            exclude: [
              meta.settings.contact?.emailAttribute ?? "email",
              meta.settings.contact?.phoneAttribute ?? "phone",
              meta.settings.consent?.optOutAttribute ?? "opt_out",
            ],
          }),
        }
      : {}),
  };
}

/** Logs an object under uploads/ that no upload request made, with a count field for a metric filter. */
function countUnknownUpload(event: UploadEvent): void {
  // The key's file name is the uploader's and may name anything: only the service's identifiers are logged.
  logger.warn("Ignoring an object that no upload request made", {
    reason: "UNKNOWN_UPLOAD",
    tenantId: event.tenantId,
    datasetId: event.datasetId,
    unknownUploads: 1,
  });
}

export async function runUpload(deps: PipelineDeps, event: UploadEvent): Promise<RunOutcome> {
  const { store, blobs } = deps;
  const now = deps.now ?? (() => new Date());
  const runId = event.retry ? retryRunId(event.retry) : runIdFor(event.eventTime, event.key, event.sequencer);
  const upload = await uploadOf(store, event);
  // Checked before anything is created: an object no upload request made creates no dataset and no run.
  if (!upload) {
    countUnknownUpload(event);
    return { outcome: "ignored", reason: "UNKNOWN_UPLOAD" };
  }
  // The service's own rewrite of an upload (an erasure's) is not an upload: it makes no run. Its ETag is
  // usually recorded by now; if not, it is recognised again under the lease below.
  if (isErasureRewrite(upload, event.eTag)) {
    return { outcome: "skipped", runId };
  }
  const fresh: RunRecord = {
    tenantId: event.tenantId,
    datasetId: event.datasetId,
    runId,
    trigger: "upload",
    status: "running",
    uploadId: event.uploadId,
    startedAt: now().toISOString(),
    attempts: 1,
    ...retryFields(event.retry),
    redelivery: {
      kind: "upload",
      uploadId: event.uploadId,
      key: event.key,
      sequencer: event.sequencer,
      eventTime: event.eventTime,
      ...(event.eTag !== undefined ? { eTag: event.eTag } : {}),
      ...(event.size !== undefined ? { size: event.size } : {}),
    },
  };

  if (
    deps.sharded &&
    upload.kind === "transactions" &&
    event.size !== undefined &&
    event.size > deps.sharded.thresholdBytes
  ) {
    await deps.sharded.start({
      kind: "upload",
      tenantId: event.tenantId,
      datasetId: event.datasetId,
      uploadId: event.uploadId,
      key: event.key,
      size: event.size,
      sequencer: event.sequencer,
      eventTime: event.eventTime,
      ...(event.eTag !== undefined ? { eTag: event.eTag } : {}),
    });
    return { outcome: "sharded", runId };
  }

  const attempt = await begin(deps, fresh);
  if ("duplicate" in attempt) return { outcome: "duplicate", runId };
  const { meta } = attempt;
  let run = attempt.run;

  try {
    // The ETag is read again under the lease: an erasure records the ETag of its rewrite before it lets go.
    const latest =
      event.eTag !== undefined
        ? await store.getUpload(event.tenantId, event.datasetId, event.uploadId)
        : undefined;
    const gated = await gateUpload(deps, attempt, run, meta, upload, event, latest);
    if (gated) return { outcome: gated, runId };

    if (meta.current?.source && !(upload.mode === "replace" && upload.kind === "transactions")) {
      return {
        outcome: "failed",
        run: await failRun(
          deps,
          attempt,
          run,
          "DATASET_SHARDED",
          "The dataset is computed sharded from a file of all its transactions: upload one with mode=replace",
        ),
      };
    }

    const timings: Record<string, number> = {};
    let t = performance.now();
    const loaded = await loadState(blobs, meta);
    let state =
      upload.mode === "replace" && upload.kind === "transactions" ? new AggregateState() : loaded.state;
    const firstNewCustomer = state.customerCount;
    timings.loadMs = Math.round(performance.now() - t);

    t = performance.now();
    const source = await blobs.stream(event.key);
    if (!source) {
      return {
        outcome: "failed",
        run: await failRun(
          deps,
          attempt,
          run,
          "UPLOAD_MISSING",
          "The uploaded file no longer exists in the bucket, so it was not read. Upload the file again.",
        ),
      };
    }
    const report = new ReportCollector(deps.maxReportedRows ?? 100_000);
    let ingest: IngestReport;
    let pinpoint: PinpointCounts | undefined;
    try {
      const options = {
        format: upload.format,
        compression: upload.compression,
        ...(upload.columns ? { columns: upload.columns } : {}),
        onRowError: report.add,
        latestOrderDay: latestOrderDay((deps.now ?? (() => new Date()))()),
      };
      if (upload.kind === "pinpoint-endpoints") {
        const read = await ingestPinpointEndpoints(source, options, state);
        ingest = read;
        pinpoint = read.pinpoint;
      } else if (upload.kind === "transactions") {
        // A plain CSV large enough is read on every core, with the one-thread read's result.
        const read = await readUploadTransactions(blobs, event.key, source, options, state);
        state = read.state;
        ingest = read.report;
      } else {
        ingest = await ingestCustomers(source, options, state);
      }
    } catch (error) {
      if (error instanceof FileError) {
        const message = `${error.message.replace(/\.?$/, ".")} Correct the file and upload it again.`;
        return { outcome: "failed", run: await failRun(deps, attempt, run, error.code, message) };
      }
      throw error;
    }
    timings.readMs = Math.round(performance.now() - t);

    const reportKey = objectKeys.report(meta.tenantId, meta.datasetId, upload.uploadId);
    if (report.count > 0)
      await blobs.put(reportKey, `${report.lines.join("\n")}\n`, "text/csv; charset=utf-8");
    run = {
      ...run,
      counts: {
        rowsRead: ingest.rowsRead,
        rowsAccepted: ingest.rowsAccepted,
        rowsRejected: ingest.rowsRejected,
        ordersAdded: ingest.ordersAdded,
        ordersDuplicate: ingest.ordersDuplicate,
        ...(pinpoint
          ? {
              endpoints: pinpoint.endpoints,
              endpointsWithoutUserId: pinpoint.endpointsWithoutUserId,
              endpointsInactive: pinpoint.endpointsInactive,
              endpointUsers: pinpoint.users,
            }
          : {}),
      },
      ...(report.count > 0 ? { reportKey } : {}),
    };

    // Customers erased from the dataset earlier stay out: the file's rows of them are left out of the
    // state, and out of the stored file, which is rewritten without them.
    let erasureEtag: string | undefined;
    if (meta.erasureSalt !== undefined) {
      const hashes = new Set(await store.listErasureHashes(meta.tenantId, meta.datasetId));
      const erased = erasedAmong(state, firstNewCustomer, meta.erasureSalt, hashes);
      if (erased.length > 0) {
        state = state.withoutCustomers(erased);
        // The file was just read whole, so it is never deleted here, whatever the rewrite makes of it.
        const scrubbed = await scrubUpload(blobs, upload, new Set(erased), { deleteUnreadable: false });
        if (scrubbed.outcome === "rewritten") erasureEtag = scrubbed.eTag;
      }
      run = { ...run, counts: { ...run.counts, customersSuppressed: erased.length } };
    }
    if (ingest.rowsAccepted === 0 && pinpoint && pinpoint.endpointsWithoutUserId > 0) {
      const message =
        "No endpoint of the file has a User.UserId, so none belongs to a customer and nothing was computed. Export endpoints that carry user ids.";
      return { outcome: "failed", run: await failRun(deps, attempt, run, "NO_USER_IDS", message) };
    }
    if (ingest.rowsAccepted === 0) {
      const code = ingest.rowsRead === 0 ? "NO_ROWS" : "NO_VALID_ROWS";
      const message =
        ingest.rowsRead === 0
          ? "The file has a header but no rows, so nothing was computed. Upload a file with rows."
          : "Every row of the file was rejected, so nothing was computed. The rejected-rows report gives each row's reason: correct the file and upload it again.";
      return { outcome: "failed", run: await failRun(deps, attempt, run, code, message) };
    }

    const done = await publish(deps, attempt, run, state, loaded, timings, {
      uploadId: upload.uploadId,
      sequencer: event.sequencer,
      ...(erasureEtag !== undefined ? { erasureEtag } : {}),
      ...(upload.mode === "replace" && upload.kind === "transactions"
        ? { replaceCreatedAt: upload.createdAt }
        : {}),
    });
    return { outcome: "succeeded", run: done };
  } catch (error) {
    return crash(deps, attempt, run, error);
  }
}

export interface RefreshEvent {
  tenantId: string;
  datasetId: string;
  /** Default "refresh" (the schedule). */
  trigger?: "refresh" | "settings" | "definitions";
  /** Identifies the scheduled event, so a redelivery maps to the same run. */
  eventId: string;
  eventTime: string;
  /** Set when the service starts the work of an abandoned run again (./sweep.ts). */
  retry?: RetryOf;
}

/**
 * Whether a refresh would compute exactly what the committed version holds: the same state (a refresh reads
 * the committed version's), the same settings and rule segments, the same evaluation date. Such a refresh
 * makes no run, no version and no history point. With no fixed `asOf`, a new day is a new evaluation date,
 * and so a change.
 */
export async function refreshChangesNothing(deps: PipelineDeps, meta: DatasetMeta): Promise<boolean> {
  const current = meta.current;
  if (!current?.inputs || meta.pending) return false;
  const now = deps.now ?? (() => new Date());
  const asOf = evaluationDate(meta.settings.asOf, now());
  const definitions = await deps.store.listDefinitions(meta.tenantId, meta.datasetId);
  const lists = listFingerprints((await deps.lists?.listLists(meta.tenantId, meta.datasetId)) ?? []);
  const lookalikes = lookalikeFingerprints(await loadLookalikes(deps, meta.tenantId, meta.datasetId));
  return inputsFingerprint(meta.settings, definitions, asOf, lists, lookalikes) === current.inputs;
}

/** Recomputes time-dependent scores from the stored state, without reading any upload. */
export async function runRefresh(deps: PipelineDeps, event: RefreshEvent): Promise<RunOutcome> {
  const now = deps.now ?? (() => new Date());
  const trigger = event.trigger ?? "refresh";
  const runId = event.retry ? retryRunId(event.retry) : runIdFor(event.eventTime, trigger, event.eventId);
  const before = await deps.store.getDataset(event.tenantId, event.datasetId);
  if (before?.current && (await refreshChangesNothing(deps, before))) {
    logger.info("Refresh changes nothing; no run", { datasetId: event.datasetId, trigger });
    return { outcome: "unchanged", version: before.current.version };
  }
  if (deps.sharded && before?.current?.source) {
    await deps.sharded.start({
      kind: "refresh",
      tenantId: event.tenantId,
      datasetId: event.datasetId,
      runId,
      time: event.eventTime,
      reason: trigger,
    });
    return { outcome: "sharded", runId };
  }
  const attempt = await begin(deps, {
    tenantId: event.tenantId,
    datasetId: event.datasetId,
    runId,
    trigger,
    status: "running",
    startedAt: now().toISOString(),
    attempts: 1,
    ...retryFields(event.retry),
    redelivery: { kind: "refresh", trigger, eventId: event.eventId, eventTime: event.eventTime },
  });
  if ("duplicate" in attempt) return { outcome: "duplicate", runId };
  const { meta, run } = attempt;
  try {
    if (!meta.current) {
      await skipRun(deps, attempt, run, "NOTHING_TO_REFRESH", "The dataset has no data yet");
      return { outcome: "stale", runId };
    }
    const timings: Record<string, number> = {};
    const t = performance.now();
    const loaded = await loadState(deps.blobs, meta);
    timings.loadMs = Math.round(performance.now() - t);
    const done = await publish(deps, attempt, run, loaded.state, loaded, timings);
    return { outcome: "succeeded", run: done };
  } catch (error) {
    return crash(deps, attempt, run, error);
  }
}
