/**
 * The port of the per-customer membership history: one record per customer whose segments changed in a run,
 * written before the run commits and served only once that run's version is committed. The DynamoDB adapter
 * is shared/store/history.ts; nothing here knows an AWS SDK.
 */
/** The run a history record belongs to. */
export interface HistoryRun {
  version: number;
  runId: string;
  /** The run's evaluation date (YYYY-MM-DD). */
  asOf: string;
}

/** The segments one customer entered and left in one run. */
export interface HistoryChange {
  customerId: string;
  entered: string[];
  left: string[];
}

/** One served history record: a committed run's changes to one customer, with the run's commit time. */
export interface HistoryEntry extends HistoryRun {
  completedAt: string;
  entered: string[];
  left: string[];
}

export interface MembershipHistory {
  /** Writes one record per change under the run's version (a retry overwrites its own); returns how many. */
  write(
    tenantId: string,
    datasetId: string,
    run: HistoryRun,
    changes: readonly HistoryChange[],
  ): Promise<number>;
  /**
   * Deletes the records a run that never committed wrote under `version` for these customers (the repair of an
   * aborted run). Readers never serve them anyway; this only keeps them from lingering.
   */
  discard(
    tenantId: string,
    datasetId: string,
    version: number,
    customerIds: readonly string[],
  ): Promise<void>;
  /**
   * A customer's records of committed runs, newest first: only versions up to `committedVersion` whose run
   * committed them, strictly before version `before` when given; `next` is the version to pass as `before`.
   */
  list(
    tenantId: string,
    datasetId: string,
    customerId: string,
    committedVersion: number,
    limit: number,
    before?: number,
  ): Promise<{ items: HistoryEntry[]; next?: number }>;
  /** Deletes every record of the customer, committed or not; returns how many there were. */
  deleteCustomer(tenantId: string, datasetId: string, customerId: string): Promise<number>;
}
