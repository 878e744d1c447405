/**
 * The port of the per-customer membership history: one entry per version that changed the customer's segments,
 * carried by the customer's item (history/entries.ts), written with it before the run commits and served only
 * once that version is committed. The DynamoDB adapter is shared/store/history.ts; nothing here knows an AWS
 * SDK.
 */
/** The committed run a history entry belongs to. */
export interface HistoryRun {
  version: number;
  runId: string;
  /** The run's evaluation date (YYYY-MM-DD). */
  asOf: string;
}

/** One served history entry: a committed run's changes to one customer, with the run's commit time. */
export interface HistoryEntry extends HistoryRun {
  completedAt: string;
  entered: string[];
  left: string[];
}

export interface MembershipHistory {
  /**
   * A customer's entries of committed versions, newest first: only versions up to `committedVersion` whose
   * commit is recorded, strictly before version `before` when given; `next` is the version to pass as `before`.
   */
  list(
    tenantId: string,
    datasetId: string,
    customerId: string,
    committedVersion: number,
    limit: number,
    before?: number,
  ): Promise<{ items: HistoryEntry[]; next?: number }>;
}
