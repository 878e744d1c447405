/**
 * The steps of a sharded run, one function call per state of the state machine (infra/constructs/sharding.ts):
 *
 *   plan       takes the dataset for the run, reads the upload's head and plans byte ranges and buckets
 *   partition  one byte range -> one part per bucket                     (many at once, on workers)
 *   aggregate  one bucket's parts from every range -> its partial        (many at once, on workers)
 *   merge      every partial -> the segmentation and the version's state (member pages included); writes the
 *              changed customers in slices
 *   write      one slice -> the table, with batched parallel writes       (many at once, on workers)
 *   commit     switches the dataset to the new version, releases it, announces the run
 *   fail       records a run whose step failed for good and releases the dataset
 *
 * Everything a step leaves for a later one is an object under work/<tenant>/<dataset>/<run>/, written whole,
 * so a retried step overwrites its own output and a later step never sees half of it. A run holds the
 * dataset's lease from plan to commit (or fail) under a fixed owner, for as long as the execution may last,
 * so no other run of the dataset interleaves with it.
 *
 * A sharded dataset is computed from its latest replace upload of transactions: it keeps no single aggregate
 * state, and its refresh reruns that upload sharded (the version records it as `source`). Appending to it, and
 * customers (attribute) files, are refused with DATASET_SHARDED: a file of all transactions replaces it.
 */
import { loadContacts, writeContacts } from "../destinations/contacts";
import {
  type AggregateContext,
  aggregateBucket,
  aggregateContext,
  type ComputeSettings,
  evaluationDate,
  FileError,
  type ForeignOrders,
  isoDay,
  mergePartials,
  ORDER_SLICES,
  type PartitionResult,
  PLAN_HEAD_BYTES,
  partitionRange,
  planShards,
  rangeReadStart,
  type ShardPlan,
  StateError,
} from "../engine";
import { VALUE_THREAD_MIN_CUSTOMERS } from "../engine/value-thread";
import { RetryableError } from "../errors";
import { listFingerprints, listSettings, loadLists } from "../lists/load";
import { logger } from "../logger";
import { lookalikeFingerprints } from "../lookalikes/ports";
import type { DatasetMeta, RunRecord, UploadRecord } from "../model";
import { PREFIXES } from "../resources";
import { objectKeys } from "../store/keys";
import {
  announceCommitted,
  failRun as closeFailed,
  skipRun as closeSkipped,
  gateUpload,
  shardedHold,
  uploadOf,
} from "./lifecycle";
import { writeMembershipAndPages } from "./member-pages";
import { FINAL_ADVICE } from "./messages";
import { decodeOutputs, diffOutputs, encodeOutputs, outputsAndProfiles } from "./outputs";
import type { CustomerWrite, MembershipWrite } from "./ports";
import { computeProfiles, writeProfiles } from "./profiles";
import {
  computeSettingsFor,
  currentVersionOf,
  inputsFingerprint,
  latestOrderDay,
  loadAborted,
  loadHistory,
  loadLookalikes,
  type PipelineDeps,
  ReportCollector,
  serveDestinations,
} from "./run";
import {
  type MergeResult,
  type PlanResult,
  type RunRef,
  type ShardedInput,
  type ShardStep,
  shardedRunId,
} from "./sharded-contract";

/** Target bytes of a byte range, and of the upload per bucket. */
export const DEFAULT_SHARD_RANGE_BYTES = 128 * 1024 * 1024;
/** Customer writes per write slice: one worker writes one in well under a minute. */
export const WRITE_SLICE_SIZE = 50_000;
/** Rejected rows kept in the report; all are counted. */
const MAX_REPORTED_ROWS = 100_000;

export interface ShardedOptions {
  /** Target size of a byte range (default 128 MiB). */
  rangeBytes?: number;
  /** Customer buckets; default one per rangeBytes of upload, at least 4. */
  buckets?: number;
  /** Writes per slice (default WRITE_SLICE_SIZE). */
  sliceSize?: number;
}

const work = (run: Pick<RunRef, "tenantId" | "datasetId" | "runId">) =>
  `${PREFIXES.work}${run.tenantId}/${run.datasetId}/${run.runId}/`;
const keys = {
  plan: (run: RunRef) => `${work(run)}plan.json`,
  part: (run: RunRef, range: number, bucket: number) => `${work(run)}parts/${range}/${bucket}.bin`,
  partMeta: (run: RunRef, range: number) => `${work(run)}parts/${range}/meta.json`,
  partial: (run: RunRef, bucket: number) => `${work(run)}partials/${bucket}.bin`,
  orders: (run: RunRef, bucket: number, slice: number) => `${work(run)}orders/${slice}/${bucket}.bin`,
  slice: (run: RunRef, slice: number) => `${work(run)}slices/${slice}.json`,
  commit: (run: RunRef) => `${work(run)}commit.json`,
};

/** A failure of the input, recorded on the run as is; anything else is retried by the state machine. */
export class ShardedInputError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "ShardedInputError";
  }
}

interface SliceBody {
  customers: CustomerWrite[];
  /** Kept for the commit's events and destinations; the member pages were written by the merge. */
  memberships: MembershipWrite[];
}

interface CommitBody {
  run: RunRecord;
  current: NonNullable<DatasetMeta["current"]>;
  upload?: { uploadId: string; sequencer: string; replaceCreatedAt?: string };
  slices: number;
}

export function shardedSteps(deps: PipelineDeps, options: ShardedOptions = {}) {
  const { store, blobs } = deps;
  const now = deps.now ?? (() => new Date());
  const rangeBytes = options.rangeBytes ?? DEFAULT_SHARD_RANGE_BYTES;
  const sliceSize = options.sliceSize ?? WRITE_SLICE_SIZE;

  const json = async <T>(key: string): Promise<T> => {
    const bytes = await blobs.get(key);
    if (!bytes) throw new RetryableError("WORK_MISSING", `A step's input is missing: ${key}`);
    return JSON.parse(Buffer.from(bytes).toString("utf8")) as T;
  };
  const putJson = (key: string, value: unknown) => blobs.put(key, JSON.stringify(value), "application/json");
  const loadPlan = (run: RunRef) => json<ShardPlan>(keys.plan(run));

  /** Records the run as failed (input errors are final: no retry) and lets the dataset go. */
  const failRun = (run: RunRecord, code: string, message: string) =>
    closeFailed(deps, shardedHold(store, run), run, code, message);

  const skipRun = (run: RunRecord, code: string, message: string, changes: Partial<RunRecord> = {}) =>
    closeSkipped(deps, shardedHold(store, run), run, code, message, changes);

  async function plan(input: ShardedInput): Promise<PlanResult> {
    const runId = shardedRunId(input);
    const fresh: RunRecord = {
      tenantId: input.tenantId,
      datasetId: input.datasetId,
      runId,
      trigger: input.kind === "upload" ? "upload" : input.reason,
      status: "running",
      ...(input.kind === "upload" ? { uploadId: input.uploadId } : {}),
      startedAt: now().toISOString(),
      attempts: 1,
    };
    let upload: UploadRecord | undefined;
    if (input.kind === "upload") {
      upload = await uploadOf(store, input);
      // runUpload checked this before starting the execution; an object no upload made creates nothing.
      if (!upload) {
        logger.warn("Ignoring an object that no upload request made", { reason: "UNKNOWN_UPLOAD" });
        return { proceed: false, outcome: "ignored" };
      }
    }
    const existing = await store.createRun(fresh);
    if (existing && existing.status !== "running") {
      // A redelivered start of a run that finished; a failed run stays failed (its input was at fault).
      return { proceed: false, outcome: "duplicate" };
    }
    const hold = shardedHold(store, fresh);
    const meta = await hold.acquire();
    if (!meta) throw new RetryableError("DATASET_BUSY", "Another run holds the dataset");
    const run: RunRecord = existing ? { ...existing, attempts: existing.attempts + 1 } : fresh;
    if (existing) await store.putRun(run);

    let key: string;
    let size: number;
    let mode: RunRef["mode"];
    let format: UploadRecord["format"] = "csv";
    let compression: UploadRecord["compression"] = "none";
    let columns: UploadRecord["columns"];
    if (input.kind === "upload" && upload) {
      if (upload.kind !== "transactions" || (upload.mode === "append" && meta.current)) {
        await failRun(
          run,
          "DATASET_SHARDED",
          "Files this large are computed sharded, which takes a file of all transactions: upload it with mode=replace",
        );
        return { proceed: false, outcome: "failed" };
      }
      const gated = await gateUpload(deps, hold, run, meta, upload, input);
      if (gated) return { proceed: false, outcome: gated };
      key = upload.key;
      size = input.size;
      mode = "replace";
      format = upload.format;
      compression = upload.compression;
      columns = upload.columns;
    } else {
      const source = meta.current?.source;
      if (!source) {
        await skipRun(run, "NOTHING_TO_REFRESH", "The dataset has no sharded version to refresh");
        return { proceed: false, outcome: "skipped" };
      }
      const sourceUpload = await store.getUpload(input.tenantId, input.datasetId, source.uploadId);
      key = source.key;
      size = (await blobs.size(key)) ?? source.size;
      mode = "refresh";
      format = sourceUpload?.format ?? "csv";
      compression = sourceUpload?.compression ?? "none";
      columns = sourceUpload?.columns;
    }

    const head = await readHead(key, size);
    if (!head) {
      await failRun(
        run,
        "UPLOAD_MISSING",
        "The uploaded file no longer exists in the bucket, so it was not read. Upload the file again.",
      );
      return { proceed: false, outcome: "failed" };
    }
    let shardPlan: ShardPlan;
    try {
      shardPlan = await planShards(head, size, {
        reader: { format, compression, ...(columns ? { columns } : {}) },
        rangeBytes,
        buckets: options.buckets ?? Math.max(4, Math.ceil(size / rangeBytes)),
      });
    } catch (error) {
      if (error instanceof FileError) {
        await failRun(
          run,
          error.code,
          `${error.message.replace(/\.?$/, ".")} Correct the file and upload it again.`,
        );
        return { proceed: false, outcome: "failed" };
      }
      throw error;
    }
    const version = Math.max(meta.current?.version ?? 0, meta.pending?.version ?? 0) + 1;
    const ref: RunRef = {
      tenantId: run.tenantId,
      datasetId: run.datasetId,
      runId,
      owner: hold.owner,
      version,
      baseVersion: meta.current?.version ?? 0,
      mode,
      buckets: shardPlan.buckets,
      key,
      ranges: shardPlan.ranges.length,
      ...(input.kind === "upload" ? { uploadId: input.uploadId, sequencer: input.sequencer } : {}),
      asOf: evaluationDate(meta.settings.asOf, now()),
      latestOrderDay: isoDay(latestOrderDay(now())),
    };
    await putJson(keys.plan(ref), shardPlan);
    logger.info("Sharded run planned", {
      runId,
      ranges: shardPlan.ranges.length,
      buckets: shardPlan.buckets,
      size,
    });
    return {
      proceed: true,
      run: ref,
      ranges: shardPlan.ranges.map(({ index, start, end }) => ({ index, start, end })),
      buckets: Array.from({ length: shardPlan.buckets }, (_, b) => b),
    };
  }

  async function readHead(key: string, size: number): Promise<Uint8Array | undefined> {
    const stream = await blobs.streamRange(key, 0, Math.min(size, PLAN_HEAD_BYTES));
    if (!stream) return undefined;
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  async function partition(run: RunRef, range: number): Promise<void> {
    const shardPlan = await loadPlan(run);
    const key = run.key as string;
    const source = await blobs.streamRange(key, rangeReadStart(shardPlan, range), shardPlan.size);
    if (!source) {
      throw new ShardedInputError(
        "UPLOAD_MISSING",
        "The uploaded file no longer exists in the bucket, so it was not read. Upload the file again.",
      );
    }
    const result = await inputErrors(() => partitionRange(source, shardPlan, range));
    await Promise.all(
      result.parts.map((part, bucket) =>
        blobs.put(keys.part(run, range, bucket), part, "application/octet-stream"),
      ),
    );
    // The meta goes last: its presence says the range's parts are all written.
    await putJson(keys.partMeta(run, range), {
      index: result.index,
      lines: result.lines,
      currencies: result.currencies,
    } satisfies Pick<PartitionResult, "index" | "lines" | "currencies">);
  }

  /** The aggregate steps' shared context: the plan, every range's line count, and what the settings need. */
  async function contextOf(run: RunRef, shardPlan: ShardPlan, settings: ComputeSettings) {
    const metas = await Promise.all(
      shardPlan.ranges.map((r) =>
        json<Pick<PartitionResult, "index" | "lines" | "currencies">>(keys.partMeta(run, r.index)),
      ),
    );
    return inputErrors(async () =>
      aggregateContext(
        shardPlan,
        metas,
        settings,
        // Partials carry each customer's spend per channel and category: profiles describe every segment's.
        { spend: true, ...(run.latestOrderDay === undefined ? {} : { latestOrderDay: run.latestOrderDay }) },
      ),
    );
  }

  /** Aggregates one bucket from its parts of every range, with orders other buckets hold when given. */
  async function aggregateOne(
    run: RunRef,
    shardPlan: ShardPlan,
    context: AggregateContext,
    bucket: number,
    foreignOrders?: ForeignOrders,
  ) {
    async function* parts() {
      for (const r of shardPlan.ranges) {
        const part = await blobs.get(keys.part(run, r.index, bucket));
        if (!part) throw new RetryableError("WORK_MISSING", `Part ${r.index}/${bucket} is missing`);
        yield part;
      }
    }
    return inputErrors(() =>
      aggregateBucket(parts(), context, bucket, foreignOrders ? { foreignOrders } : {}),
    );
  }

  async function aggregate(run: RunRef, bucket: number): Promise<void> {
    const shardPlan = await loadPlan(run);
    const context = await contextOf(run, shardPlan, await settingsOf(run));
    const result = await aggregateOne(run, shardPlan, context, bucket);
    // The order lists first, the partial last: its presence says the bucket is complete.
    await Promise.all(
      result.orders.map((list, slice) =>
        blobs.put(keys.orders(run, bucket, slice), list, "application/octet-stream"),
      ),
    );
    await blobs.put(keys.partial(run, bucket), result.partial, "application/octet-stream");
  }

  /** The computation's settings as the merge will use them (rules decide what the partials carry). */
  async function settingsOf(run: RunRef): Promise<ComputeSettings> {
    const meta = await store.getDataset(run.tenantId, run.datasetId);
    if (!meta) {
      throw new ShardedInputError(
        "DATASET_MISSING",
        "The dataset was deleted while the run worked on it, so the run stopped. Create the dataset and upload the file again.",
      );
    }
    const definitions = await store.listDefinitions(run.tenantId, run.datasetId);
    const lists = await loadLists(deps.lists, run.tenantId, run.datasetId);
    const lookalikes = await loadLookalikes(deps, run.tenantId, run.datasetId);
    return computeSettingsFor(meta, run.asOf, definitions, listSettings(lists), lookalikes);
  }

  async function merge(run: RunRef): Promise<MergeResult> {
    await renew(run);
    const meta = await store.getDataset(run.tenantId, run.datasetId);
    if (!meta) {
      throw new ShardedInputError(
        "DATASET_MISSING",
        "The dataset was deleted while the run worked on it, so the run stopped. Create the dataset and upload the file again.",
      );
    }
    const definitions = await store.listDefinitions(run.tenantId, run.datasetId);
    const lists = await loadLists(deps.lists, run.tenantId, run.datasetId);
    const lookalikes = await loadLookalikes(deps, run.tenantId, run.datasetId);
    const settings: ComputeSettings = computeSettingsFor(
      meta,
      run.asOf,
      definitions,
      listSettings(lists),
      lookalikes,
    );
    const started = performance.now();
    const shardPlan = await loadPlan(run);
    const partials = Array.from({ length: run.buckets }, (_, b) => async () => {
      const bytes = await blobs.get(keys.partial(run, b));
      if (!bytes) throw new RetryableError("WORK_MISSING", `Partial ${b} is missing`);
      return bytes;
    });
    // Order lists slice by slice, streamed: the check that no order_id is in two buckets.
    const orders = Array.from({ length: ORDER_SLICES }, (_, slice) =>
      Array.from(
        { length: run.buckets },
        (_, b) =>
          async function* () {
            const bytes = await blobs.get(keys.orders(run, b, slice));
            if (!bytes) throw new RetryableError("WORK_MISSING", `Order list ${slice}/${b} is missing`);
            yield bytes;
          },
      ),
    );
    // Rare: a bucket holds an order another bucket's line came first for; it is aggregated again here.
    const rebuild = async (bucket: number, foreignOrders: ForeignOrders) => {
      const context = await contextOf(run, shardPlan, settings);
      return (await aggregateOne(run, shardPlan, context, bucket, foreignOrders)).partial;
    };
    // Each customer's spend per channel and category kept, for the profiles of every segment; the value
    // stage on a thread of its own beside the clusters' fit from as many customers as the segment CLI's.
    const merged = await inputErrors(() =>
      mergePartials(partials, settings, {
        orders,
        rebuild,
        spend: true,
        valueThreadFrom: VALUE_THREAD_MIN_CUSTOMERS,
      }),
    );
    const { result, report } = merged;
    const liftProfiles = computeProfiles(result, meta.settings);
    const computeMs = Math.round(performance.now() - started);

    const runRecord = (await store.getRun(run.tenantId, run.datasetId, run.runId)) as RunRecord;
    let counts: Record<string, number> = {
      rowsRead: report.rowsRead,
      rowsAccepted: report.rowsAccepted,
      rowsRejected: report.rowsRejected,
      ordersAdded: report.ordersAdded,
      ordersDuplicate: report.ordersDuplicate,
    };
    let reportKey: string | undefined;
    if (merged.errors.length > 0 && run.uploadId !== undefined) {
      reportKey = objectKeys.report(run.tenantId, run.datasetId, run.uploadId);
      const collected = new ReportCollector(MAX_REPORTED_ROWS);
      for (const e of merged.errors) collected.add(e);
      await blobs.put(reportKey, `${collected.lines.join("\n")}\n`, "text/csv; charset=utf-8");
    }
    if (report.rowsAccepted === 0) {
      const code = report.rowsRead === 0 ? "NO_ROWS" : "NO_VALID_ROWS";
      throw new ShardedInputError(
        code,
        report.rowsRead === 0
          ? "The file has a header but no rows, so nothing was computed. Upload a file with rows."
          : "Every row of the file was rejected, so nothing was computed. The rejected-rows report gives each row's reason: correct the file and upload it again.",
      );
    }

    const t = performance.now();
    const committedBytes = meta.current
      ? await blobs.get(objectKeys.outputs(run.tenantId, run.datasetId, meta.current.version))
      : undefined;
    const committed = committedBytes ? decodeOutputs(committedBytes) : new Map<string, string>();
    const committedHistory = meta.current
      ? await loadHistory(blobs, run.tenantId, run.datasetId, meta.current.version)
      : new Map<string, string>();
    const { outputs, profiles } = outputsAndProfiles(result);
    const aborted = await loadAborted(blobs, meta);
    await store.markPending(run.tenantId, run.datasetId, run.owner, run.runId, run.version);
    await blobs.put(
      objectKeys.outputs(run.tenantId, run.datasetId, run.version),
      encodeOutputs(outputs),
      "application/gzip",
    );
    await writeMembershipAndPages(
      blobs,
      run.tenantId,
      run.datasetId,
      run.version,
      outputs,
      result.segments.map((s) => s.id),
    );
    await writeProfiles(blobs, run.tenantId, run.datasetId, run.version, liftProfiles);
    // A sharded dataset holds no customer attributes (customers files are refused), so no contacts either.
    await writeContacts(blobs, run.tenantId, run.datasetId, run.version, undefined, undefined);
    const diff = diffOutputs(committed, outputs, aborted, {
      version: run.version,
      committed: committedHistory,
    });
    await blobs.put(
      objectKeys.history(run.tenantId, run.datasetId, run.version),
      encodeOutputs(diff.history),
      "application/gzip",
    );
    const slices = Math.max(
      1,
      Math.ceil(diff.customers.length / sliceSize),
      Math.ceil(diff.memberships.length / sliceSize),
    );
    for (let i = 0; i < slices; i++) {
      await putJson(keys.slice(run, i), {
        customers: diff.customers.slice(i * sliceSize, (i + 1) * sliceSize),
        memberships: diff.memberships.slice(i * sliceSize, (i + 1) * sliceSize),
      } satisfies SliceBody);
    }
    counts = {
      ...counts,
      customers: result.customerCount,
      orders: merged.orderCount,
      customersWritten: diff.customers.length,
      historyWritten: diff.historyEntries,
    };
    const segments = result.segments.map((s) => ({ ...s, profile: profiles.get(s.id) }));
    const timings: Record<string, number> = {
      computeMs,
      mergeMs: Math.round(merged.mergeMs),
      diffMs: Math.round(performance.now() - t),
    };
    for (const [stage, ms] of Object.entries(result.timings)) timings[`${stage}Ms`] = Math.round(ms);
    const size = (await blobs.size(run.key as string)) ?? 0;
    const body: CommitBody = {
      run: {
        ...runRecord,
        version: run.version,
        asOf: run.asOf,
        counts,
        ...(reportKey ? { reportKey } : {}),
        timingsMs: timings,
        segments: result.segments,
      },
      current: currentVersionOf(result, {
        version: run.version,
        runId: run.runId,
        asOf: run.asOf,
        completedAt: "",
        orderCount: merged.orderCount,
        segments,
        inputs: inputsFingerprint(
          meta.settings,
          definitions,
          run.asOf,
          listFingerprints(lists.map((l) => l.record)),
          lookalikeFingerprints(lookalikes),
        ),
        source: {
          uploadId: run.uploadId ?? meta.current?.source?.uploadId ?? "",
          key: run.key as string,
          size,
        },
      }),
      ...(run.uploadId !== undefined && run.sequencer !== undefined
        ? { upload: await uploadCommit(run) }
        : {}),
      slices,
    };
    await putJson(keys.commit(run), body);
    return { slices: Array.from({ length: slices }, (_, i) => i) };
  }

  async function uploadCommit(run: RunRef): Promise<CommitBody["upload"]> {
    const upload = await store.getUpload(run.tenantId, run.datasetId, run.uploadId as string);
    return {
      uploadId: run.uploadId as string,
      sequencer: run.sequencer as string,
      ...(upload ? { replaceCreatedAt: upload.createdAt } : {}),
    };
  }

  async function write(run: RunRef, slice: number): Promise<void> {
    const body = await json<SliceBody>(keys.slice(run, slice));
    await store.writeCustomers(run.tenantId, run.datasetId, run.version, body.customers);
  }

  async function commit(run: RunRef): Promise<void> {
    const body = await json<CommitBody>(keys.commit(run));
    const finishedAt = now().toISOString();
    const done: RunRecord = {
      ...body.run,
      status: "succeeded",
      finishedAt,
      timingsMs: { ...body.run.timingsMs, totalMs: Date.parse(finishedAt) - Date.parse(body.run.startedAt) },
    };
    await store.commit({
      tenantId: run.tenantId,
      datasetId: run.datasetId,
      owner: run.owner,
      run: done,
      current: { ...body.current, completedAt: finishedAt },
      ...(body.upload ? { upload: body.upload } : {}),
    });
    const memberships: MembershipWrite[] = [];
    for (let i = 0; i < body.slices; i++)
      memberships.push(...(await json<SliceBody>(keys.slice(run, i))).memberships);
    await announceCommitted(deps, done, memberships);
    // A sharded version holds no customer attributes; its contacts object (empty) says so.
    await serveDestinations(deps, done, memberships, () =>
      loadContacts(deps.blobs, done.tenantId, done.datasetId, done.version ?? 0, undefined),
    );
  }

  async function fail(input: Extract<ShardStep, { action: "fail" }>["input"]): Promise<void> {
    const runId = input.plan?.proceed ? input.plan.run.runId : shardedRunId(input.upload);
    const run = await store.getRun(input.upload.tenantId, input.upload.datasetId, runId);
    const { code, message } = failureOf(input.error);
    if (run && run.status === "running") {
      await failRun(run, code, message);
    } else {
      await shardedHold(store, { ...input.upload, runId }).release();
    }
    logger.error("Sharded run failed", { runId, code });
  }

  /** Extends the run's hold on the dataset: the merge and commit may come long after the plan. */
  async function renew(run: RunRef): Promise<void> {
    if (!(await shardedHold(store, run).renew())) {
      throw new ShardedInputError(
        "LEASE_LOST",
        `The run lost its hold on the dataset (its lease lapsed and another run took it over) and is not attempted again. ${FINAL_ADVICE.upload}`,
      );
    }
  }

  return {
    plan,
    partition,
    aggregate,
    merge,
    write,
    commit,
    fail,
    /** Runs one step as the state machine sends it. */
    async run(step: ShardStep): Promise<unknown> {
      switch (step.action) {
        case "plan":
          return plan(step.upload);
        case "partition":
          return partition(step.run, step.range.index);
        case "aggregate":
          return aggregate(step.run, step.bucket);
        case "merge":
          return merge(step.run);
        case "write":
          return write(step.run, step.slice);
        case "commit":
          return commit(step.run);
        case "fail":
          return fail(step.input);
      }
    },
  };
}

export type ShardedSteps = ReturnType<typeof shardedSteps>;

/** Turns the engine's errors about the input into ShardedInputError; anything else propagates. */
async function inputErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof FileError || error instanceof StateError)
      throw new ShardedInputError(error.code, error.message);
    throw error;
  }
}

/** The code and message of a failed step, from the error Step Functions caught. */
export function failureOf(error: { Error?: string; Cause?: string } | undefined): {
  code: string;
  message: string;
} {
  let message = error?.Cause ?? "";
  try {
    const cause = JSON.parse(message) as { errorMessage?: string };
    if (typeof cause.errorMessage === "string") message = cause.errorMessage;
  } catch {
    // A cause that is not Lambda's JSON (a timeout, a states error) is kept as it is.
  }
  if (error?.Error === "ShardedInputError") {
    const match = /^([A-Z][A-Z0-9_]*): (.*)$/s.exec(message);
    if (match) return { code: match[1] as string, message: match[2] as string };
  }
  const timedOut = error?.Error === "States.Timeout";
  return {
    code: timedOut ? "RUN_TIMED_OUT" : "RUN_FAILED",
    message: `${
      timedOut ? "A step of the sharded run ran out of time" : "A step of the sharded run failed"
    } on each of its attempts and the run is not attempted again. ${FINAL_ADVICE.upload}`,
  };
}
