/**
 * The ports the pipeline and the API need from storage. The DynamoDB and S3 adapters in `shared/store`
 * implement them; nothing here knows an AWS SDK.
 */

import type { StoredEntry } from "../history/entries";
import type {
  CustomerView,
  DatasetMeta,
  DatasetSettings,
  ErasureCounts,
  ErasureRecord,
  RunRecord,
  RunStatus,
  SegmentDefinitionRecord,
  UploadRecord,
} from "../model";
import type { TableView } from "./served-view";

export interface BlobStore {
  /** Streams an object, or undefined when it does not exist. */
  stream(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Bytes [start, end) of an object (end past the object's size reads to its end), streamed; undefined if
   * the object does not exist.
   */
  streamRange(key: string, start: number, end: number): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Size in bytes of an object, or undefined if it does not exist. */
  size(key: string): Promise<number | undefined>;
  put(key: string, body: Uint8Array | string, contentType: string): Promise<void>;
  /**
   * Writes an object from a stream of unknown length (in parts when it is large) and returns its ETag,
   * without quotes, as S3 events report it.
   */
  putStream(key: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<string>;
  /** Every key under `prefix`. */
  list(prefix: string): Promise<string[]>;
  /** Deletes the objects; keys that do not exist are no error. */
  delete(keys: readonly string[]): Promise<void>;
  /** A link that downloads the object for `expiresSeconds`, to whoever holds it. */
  presignGet(key: string, expiresSeconds: number, fileName: string): Promise<string>;
}

/**
 * A customer's item at the new version: the table view, what readers of the committed version must still
 * see, and the customer's membership history (newest first, capped; history/entries.ts), which the item
 * carries whole.
 */
export interface CustomerWrite {
  customerId: string;
  view: TableView | null;
  previous: TableView | null;
  history?: StoredEntry[];
}

export interface MembershipWrite {
  segmentId: string;
  customerId: string;
  member: boolean;
  previous: boolean;
}

export interface CommitInput {
  tenantId: string;
  datasetId: string;
  /** The lease holder; the commit fails unless it still holds the lease. */
  owner: string;
  run: RunRecord;
  current: NonNullable<DatasetMeta["current"]>;
  upload?: {
    uploadId: string;
    sequencer: string;
    replaceCreatedAt?: string;
    /** ETag of the upload's object as this run rewrote it without erased customers. */
    erasureEtag?: string;
  };
}

/** The dataset as a run holds it, with the lapsed lease of a dead attempt it took over, if any. */
export type LeasedDataset = DatasetMeta & { lapsedLease?: { owner: string; until: number } };

export interface Page<T> {
  items: T[];
  /** Opaque position after the last item, absent on the last page. */
  next?: string;
}

/** Datasets and what defines them: META's settings, the registry of datasets, saved rule segments. */
export interface DatasetDefinitionStore {
  getDataset(tenantId: string, datasetId: string): Promise<DatasetMeta | undefined>;
  /** Creates the dataset (and its registry entry) if absent; returns it. */
  ensureDataset(tenantId: string, datasetId: string, settings?: DatasetSettings): Promise<DatasetMeta>;
  listDatasets(): Promise<Array<{ tenantId: string; datasetId: string }>>;
  /** Creates the dataset; undefined when it exists already. */
  createDataset(
    tenantId: string,
    datasetId: string,
    settings: DatasetSettings,
  ): Promise<DatasetMeta | undefined>;
  /** One tenant's dataset ids, in id order. */
  listTenantDatasets(tenantId: string, limit: number, after?: string): Promise<Page<string>>;
  /** Replaces the settings; false when the dataset does not exist. */
  putSettings(tenantId: string, datasetId: string, settings: DatasetSettings): Promise<boolean>;

  putDefinition(tenantId: string, datasetId: string, definition: SegmentDefinitionRecord): Promise<void>;
  getDefinition(
    tenantId: string,
    datasetId: string,
    segmentId: string,
  ): Promise<SegmentDefinitionRecord | undefined>;
  /** Every saved rule segment of the dataset, in id order. */
  listDefinitions(tenantId: string, datasetId: string): Promise<SegmentDefinitionRecord[]>;
  /** False when there was none. */
  deleteDefinition(tenantId: string, datasetId: string, segmentId: string): Promise<boolean>;
}

/** Upload records, erasure records and the dataset's erasure key, and the bookkeeping of rewritten uploads. */
export interface UploadErasureStore {
  putUpload(upload: UploadRecord): Promise<void>;
  getUpload(tenantId: string, datasetId: string, uploadId: string): Promise<UploadRecord | undefined>;
  /** Every upload record of the dataset. */
  listUploads(tenantId: string, datasetId: string): Promise<UploadRecord[]>;

  /**
   * The dataset's erasure key, made on first use; undefined when the dataset does not exist. Two callers
   * racing to make it get the same key.
   */
  ensureErasureSalt(tenantId: string, datasetId: string): Promise<string | undefined>;
  putErasure(erasure: ErasureRecord): Promise<void>;
  getErasure(tenantId: string, datasetId: string, erasureId: string): Promise<ErasureRecord | undefined>;
  /** The customer hashes of every erasure of the dataset, requested or completed. */
  listErasureHashes(tenantId: string, datasetId: string): Promise<string[]>;
  /** Adds to the erasure's counts. */
  addErasureCounts(
    tenantId: string,
    datasetId: string,
    erasureId: string,
    counts: Partial<ErasureCounts>,
  ): Promise<void>;
  /**
   * Records, in one transaction, that an erasure rewrote an upload's object: its new ETag on the upload (so
   * the rewrite's S3 event is skipped) and the rows removed on the erasure.
   */
  recordUploadRewrite(input: {
    tenantId: string;
    datasetId: string;
    uploadId: string;
    eTag: string;
    erasureId: string;
    counts: Partial<ErasureCounts>;
  }): Promise<void>;
  completeErasure(input: {
    tenantId: string;
    datasetId: string;
    erasureId: string;
    completedAt: string;
    runId: string;
    version?: number;
    /** Set, not added: a retried completion must not count the customer twice. */
    customersErased: number;
    /** Added to the counts in the same update. */
    add: Partial<ErasureCounts>;
  }): Promise<void>;
}

/** Run records and the dataset's lease (taken, renewed and released on META) that one attempt of a run holds. */
export interface RunLeaseStore {
  /** Creates the run record unless one with its id exists; returns the existing one in that case. */
  createRun(run: RunRecord): Promise<RunRecord | undefined>;
  putRun(run: RunRecord): Promise<void>;
  getRun(tenantId: string, datasetId: string, runId: string): Promise<RunRecord | undefined>;
  listRuns(tenantId: string, datasetId: string, limit: number, after?: string): Promise<Page<RunRecord>>;
  /** Records on a committed run that its destinations were served (`destinationsServedAt`). */
  markDestinationsServed(tenantId: string, datasetId: string, runId: string, at: string): Promise<void>;
  /** Every run whose id sorts at or after `sinceRunId` (run ids start with their time), oldest first. */
  listRunsSince(tenantId: string, datasetId: string, sinceRunId: string): Promise<RunRecord[]>;
  /**
   * Replaces the run record if it still has the status and attempt count the caller saw; false otherwise
   * (another attempt resumed or closed it meanwhile).
   */
  closeRun(run: RunRecord, expected: { status: RunStatus; attempts: number }): Promise<boolean>;

  /**
   * Takes the dataset's lease for `owner` (one attempt of one run); returns the dataset, or undefined while
   * another attempt holds an unexpired lease. A lapsed lease it took over is returned as `lapsedLease`.
   */
  acquireLock(
    tenantId: string,
    datasetId: string,
    owner: string,
    leaseMs: number,
  ): Promise<LeasedDataset | undefined>;
  /** Extends the lease; false when `owner` no longer holds it. */
  renewLock(tenantId: string, datasetId: string, owner: string, leaseMs: number): Promise<boolean>;
  releaseLock(tenantId: string, datasetId: string, owner: string): Promise<void>;
  /** Records that `version` is about to be written, so a later run can repair it if this one dies. */
  markPending(
    tenantId: string,
    datasetId: string,
    owner: string,
    runId: string,
    version: number,
  ): Promise<void>;
}

/** Versions and what readers see: customer items, the commit that switches versions, a customer's view. */
export interface VersionStore {
  writeCustomers(
    tenantId: string,
    datasetId: string,
    version: number,
    writes: CustomerWrite[],
  ): Promise<number>;
  /** Switches readers to the new version, records the run and writes the version's item, in one transaction. */
  commit(input: CommitInput): Promise<void>;

  /** The dataset and one customer's committed view, read together in one request. */
  getCustomer(
    tenantId: string,
    datasetId: string,
    customerId: string,
  ): Promise<{ meta: DatasetMeta | undefined; view: CustomerView | undefined }>;

  /**
   * Deletes a customer's item, whatever versions it holds; returns how many items existed, and how many
   * membership-history entries the customer item held.
   */
  deleteCustomerItems(
    tenantId: string,
    datasetId: string,
    customerId: string,
    legacy?: { segmentIds: readonly string[] },
  ): Promise<{ items: number; historyEntries: number }>;
}

/** The whole store, one table: the four parts above. */
export type DatasetStore = DatasetDefinitionStore & UploadErasureStore & RunLeaseStore & VersionStore;

/** One event for the service's event bus (EventBridge in AWS). Details never carry personal data. */
export interface ServiceEvent {
  detailType: string;
  detail: Record<string, unknown>;
}

export interface EventPublisher {
  publish(events: ServiceEvent[]): Promise<void>;
}

/**
 * Starts sharded runs (Step Functions in AWS, the steps in-process locally). Starting the same run twice is
 * harmless: the run id names the execution, and a run that exists is not started again.
 */
export interface ShardedRuns {
  /** Transactions uploads larger than this run sharded. */
  readonly thresholdBytes: number;
  start(input: import("./sharded-contract").ShardedInput): Promise<void>;
}
