/**
 * Definitions of the stored resources, shared by the CDK stack and the local service so that both create
 * the same table and the same bucket layout.
 */

export const TABLE_KEYS = {
  partitionKey: "pk",
  sortKey: "sk",
  /** Epoch seconds; DynamoDB TTL deletes the item after it. */
  ttlAttribute: "expiresAt",
} as const;

/**
 * Bucket prefixes. Only `uploads/` triggers computation; every output prefix is disjoint from it, so
 * nothing the pipeline writes can trigger it again.
 */
export const PREFIXES = {
  uploads: "uploads/",
  reports: "reports/",
  state: "state/",
  exports: "exports/",
  /** Intermediate objects of sharded runs (partitions, partial aggregates, write slices); expire in days. */
  work: "work/",
  /** Webhook bodies waiting in a destination's outbox (shared/destinations). */
  deliveries: "deliveries/",
  /** The ids of list segments, one object per list (shared/store/lists.ts). */
  lists: "lists/",
} as const;

/** How long intermediate objects of a sharded run are kept (a lifecycle rule deletes them). */
export const WORK_RETENTION_DAYS = 2;

/** Largest file a presigned upload accepts. */
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024 * 1024;
/** How long a presigned upload stays valid. */
export const UPLOAD_URL_TTL_SECONDS = 15 * 60;
/** How often the sweeper looks for runs whose process died (shared/pipeline/sweep.ts). */
export const SWEEP_EVERY_MINUTES = 5;
/** Schedule of the refresh function, in EventBridge cron syntax (UTC). */
export const REFRESH_SCHEDULE = { minute: "15", hour: "3" } as const;

/** Timeout of each function, in seconds; the stack sets them and the local service enforces the same. */
export const FUNCTION_TIMEOUT_SECONDS = {
  readApi: 10,
  writeApi: 10,
  lookupApi: 10,
  compute: 900,
  refresh: 900,
  shard: 900,
  sweeper: 120,
  deliver: 120,
} as const;
export type FunctionName = keyof typeof FUNCTION_TIMEOUT_SECONDS;

/**
 * What a pipeline function keeps back from its remaining time when it waits for a busy dataset: the run it
 * then starts needs time of its own.
 */
export const LEASE_WAIT_RESERVE_MS = 5 * 60 * 1000;

/** How long a member export stays in the bucket (a lifecycle rule deletes it) and its link stays valid. */
export const EXPORT_RETENTION_DAYS = 1;
export const EXPORT_URL_TTL_SECONDS = 15 * 60;
