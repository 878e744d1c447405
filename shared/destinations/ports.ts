/**
 * The ports destinations need from storage and the platform. The DynamoDB, Secrets Manager and SQS adapters
 * in `shared/store` implement them, the local service has its own secret store and queue; nothing here knows
 * an AWS SDK.
 */
import type { Page } from "../pipeline/ports";
import type {
  DeliveryAttempt,
  DeliveryRecord,
  DestinationRecord,
  DestinationRef,
  DestinationStatus,
  NewDelivery,
} from "./model";

/** What delivery bookkeeping may change on a destination (status, failure count, rotation). */
export type DestinationStatePatch = Partial<
  Pick<DestinationRecord, "consecutiveFailures" | "disabledReason" | "disabledAt" | "updatedAt"> & {
    status: DestinationStatus;
  }
>;

/** A destination with deliveries waiting, as the sweep finds it. */
export interface PendingMarker extends DestinationRef {
  /** Changes on every enqueue; `unmarkPending` with an older mark removes nothing. */
  mark: number;
}

export interface DestinationStore {
  /** Creates the destination unless the dataset already has `max` of them; false in that case. */
  createDestination(destination: DestinationRecord, max: number): Promise<boolean>;
  getDestination(ref: DestinationRef): Promise<DestinationRecord | undefined>;
  /** Every destination of the dataset, in id order. */
  listDestinations(tenantId: string, datasetId: string): Promise<DestinationRecord[]>;
  /** Replaces an existing destination; false when it does not exist. */
  replaceDestination(destination: DestinationRecord): Promise<boolean>;
  /** Changes delivery state fields only; false when the destination does not exist. */
  updateDestinationState(ref: DestinationRef, patch: DestinationStatePatch): Promise<boolean>;
  /**
   * Deletes the destination, its outbox, its attempt log and its pending marker; returns the deleted
   * destination (its payload keys and secrets are the caller's to remove), or undefined when there was none.
   */
  deleteDestination(
    ref: DestinationRef,
  ): Promise<{ destination: DestinationRecord; payloadKeys: string[] } | undefined>;

  /**
   * Takes the destination's delivery lease for `owner` until now + leaseMs; false while another owner holds
   * an unexpired one (or the destination is gone).
   */
  acquireDeliveryLease(ref: DestinationRef, owner: string, leaseMs: number, now: number): Promise<boolean>;
  releaseDeliveryLease(ref: DestinationRef, owner: string): Promise<void>;

  /**
   * Appends deliveries to the outbox with the next sequence numbers, in the order given, and marks the
   * destination as having deliveries waiting; returns them as stored.
   */
  enqueueDeliveries(ref: DestinationRef, deliveries: readonly NewDelivery[]): Promise<DeliveryRecord[]>;
  /** Pending deliveries in sequence order (oldest first), at most `limit`. */
  listPendingDeliveries(ref: DestinationRef, limit: number): Promise<DeliveryRecord[]>;
  /** Replaces one outbox entry (matched by its seq). */
  updateDelivery(ref: DestinationRef, delivery: DeliveryRecord): Promise<void>;
  /** Sets the counts of one outbox entry, nothing else (an erasure rewrote its body). */
  setDeliveryCounts(
    ref: DestinationRef,
    seq: number,
    counts: { entered: number; left: number },
  ): Promise<void>;
  /** The outbox newest first, paginated. */
  listDeliveries(ref: DestinationRef, limit: number, after?: string): Promise<Page<DeliveryRecord>>;

  /** Adds one entry to the attempt log (kept 30 days). */
  appendAttempt(ref: DestinationRef, attempt: DeliveryAttempt): Promise<void>;
  /** The attempt log newest first, paginated. */
  listAttempts(ref: DestinationRef, limit: number, after?: string): Promise<Page<DeliveryAttempt>>;

  /** Destinations of every dataset with deliveries waiting (the sweep's work list). */
  listPendingMarkers(): Promise<PendingMarker[]>;
  /** Removes the marker unless an enqueue changed it since `mark` was read. */
  unmarkPending(marker: PendingMarker): Promise<void>;
}

/** Webhook signing secrets. The table holds only the reference; the secret never reaches a log. */
export interface SecretStore {
  /** Stores a new secret under a name unique to it; returns its reference. */
  create(name: string, value: string): Promise<string>;
  get(ref: string): Promise<string>;
  put(ref: string, value: string): Promise<void>;
  /** Deleting a reference that does not exist is no error. */
  delete(ref: string): Promise<void>;
}

/** Wakes the delivery worker for one destination (SQS in AWS, an in-process call locally). */
export interface DeliveryQueue {
  notify(ref: DestinationRef): Promise<void>;
}

export const noDeliveryQueue: DeliveryQueue = { notify: async () => {} };
