/**
 * Wires the adapters for a Lambda runtime or the local service: configuration parsed once, each SDK client
 * created once, the stores built on them. A function's Lambda entry (`functions/<name>/handler.ts`) calls
 * `runtime()` at cold start and hands what its handler needs to the handler's factory
 * (`functions/<name>/core.ts`); the local service calls the same factories with adapters of its own (events,
 * delivery queue, sharded runner, a store that reports progress). Nothing here is replaced after it is built.
 */

import { type Config, parseConfig } from "./config";
import {
  type DeliveryQueue,
  type DestinationStore,
  noDeliveryQueue,
  type SecretStore,
} from "./destinations/ports";
import { CursorCodec } from "./http/cursor";
import type { EventPublisher } from "./pipeline/ports";
import { type Clients, createClients } from "./store/clients";
import { SqsDeliveryQueue } from "./store/delivery-queue";
import { DynamoDestinationStore } from "./store/destinations";
import { DynamoDatasetStore } from "./store/dynamo";
import { EventBridgePublisher, noEvents } from "./store/events";
import { S3ExternalBucketWriter } from "./store/external-bucket";
import { DynamoMembershipHistory } from "./store/history";
import { DynamoListStore } from "./store/lists";
import { DynamoLookalikeStore } from "./store/lookalikes";
import { S3MemberPages } from "./store/member-pages";
import { S3BlobStore, S3UploadSigner } from "./store/s3";
import { FileSecretStore, SecretsManagerStore } from "./store/secrets";

export interface Runtime {
  config: Config;
  clients: Clients;
  store: DynamoDatasetStore;
  blobs: S3BlobStore;
  signer: S3UploadSigner;
  cursors: CursorCodec;
  /** Every version's member pages, in the bucket (indexes of recent versions kept in the warm function). */
  members: S3MemberPages;
  /** The per-customer membership history, in the same table. */
  history: DynamoMembershipHistory;
  /** List segments: definitions in the same table, ids in the service bucket. */
  lists: DynamoListStore;
  /** Lookalike segments: their records in the same table. */
  lookalikes: DynamoLookalikeStore;
  /** The service's bus (EventBridge), or none when no bus is configured. */
  events: EventPublisher;
  destinations: DestinationStore;
  /** Webhook signing secrets: Secrets Manager, or files when LOCAL_SECRETS_DIR is set. */
  secrets: SecretStore;
  /** The delivery queue (SQS), or none when no queue is configured. */
  deliveryQueue: DeliveryQueue;
  /** Writes the files of s3 and audience destinations into the buckets they name. */
  destinationFiles: S3ExternalBucketWriter;
  /**
   * How long a run's lease on its dataset lasts unrenewed (renewed every third of it); the pipeline's default
   * (DEFAULT_LEASE_MS) when absent. The local service sets it with `--lease-seconds`.
   */
  leaseMs?: number;
}

let cached: Runtime | undefined;

export function runtime(env: Record<string, string | undefined> = process.env): Runtime {
  if (cached) return cached;
  const config = parseConfig(env);
  const clients = createClients(config);
  cached = {
    config,
    clients,
    store: new DynamoDatasetStore(clients.doc, config.TABLE_NAME),
    blobs: new S3BlobStore(clients.s3, config.BUCKET_NAME),
    signer: new S3UploadSigner(clients.s3, config.BUCKET_NAME),
    members: new S3MemberPages(new S3BlobStore(clients.s3, config.BUCKET_NAME)),
    history: new DynamoMembershipHistory(clients.doc, config.TABLE_NAME),
    lists: new DynamoListStore(
      clients.doc,
      config.TABLE_NAME,
      new S3BlobStore(clients.s3, config.BUCKET_NAME),
    ),
    lookalikes: new DynamoLookalikeStore(clients.doc, config.TABLE_NAME),
    cursors: new CursorCodec(env.CURSOR_SECRET ?? `cursor:${config.TABLE_NAME}`),
    events: config.EVENT_BUS_NAME
      ? new EventBridgePublisher(clients.events, config.EVENT_BUS_NAME)
      : noEvents,
    destinations: new DynamoDestinationStore(clients.doc, config.TABLE_NAME),
    destinationFiles: new S3ExternalBucketWriter(clients.s3),
    secrets: config.LOCAL_SECRETS_DIR
      ? new FileSecretStore(config.LOCAL_SECRETS_DIR)
      : new SecretsManagerStore(
          clients.secrets,
          config.WEBHOOK_SECRET_PREFIX ?? `${config.SERVICE_NAME}/webhooks/`,
        ),
    deliveryQueue: config.DELIVERY_QUEUE_URL
      ? new SqsDeliveryQueue(clients.sqs, config.DELIVERY_QUEUE_URL)
      : noDeliveryQueue,
  };
  return cached;
}

/** The parts of a runtime that runs (uploads, refreshes, erasures, sharded steps) use. */
export type RunSources = Pick<
  Runtime,
  | "store"
  | "blobs"
  | "members"
  | "events"
  | "lists"
  | "lookalikes"
  | "destinationFiles"
  | "destinations"
  | "deliveryQueue"
  | "leaseMs"
>;

/**
 * What runs (uploads, refreshes, erasures, sharded steps) need: the stores, the bucket, the event bus and
 * what serves destinations.
 */
export function runDeps(rt: RunSources) {
  return {
    store: rt.store,
    blobs: rt.blobs,
    members: rt.members,
    events: rt.events,
    lists: rt.lists,
    lookalikes: rt.lookalikes,
    destinationFiles: rt.destinationFiles,
    destinations: rt.destinations,
    deliveryQueue: rt.deliveryQueue,
    leaseMs: rt.leaseMs,
  };
}
