/**
 * Key design of the single table. Every key starts with the tenant and the dataset, so a caller limited to a
 * tenant can only ever address that tenant's items.
 *
 *   pk                                  sk                 item
 *   T#<tenant>#D#<dataset>              META               dataset: committed version, summary, lock
 *   T#<tenant>#D#<dataset>              RUN#<runId>        one run: status, counts, timings
 *   T#<tenant>#D#<dataset>              UPLOAD#<uploadId>  one upload: kind, mode, format, key
 *   T#<tenant>#D#<dataset>              DEF#<segmentId>    one saved rule segment
 *   T#<tenant>#D#<dataset>              LAL#<segmentId>    one lookalike: seed, size (./lookalikes.ts)
 *   T#<tenant>#D#<dataset>              ERASURE#<erasure>  one erasure request: status, counts, id hash
 *   T#<tenant>#D#<dataset>              VER#<version>      one committed version: run, asOf, commit time
 *   T#<tenant>#D#<dataset>#C#<customer> C                  one customer: scores, memberships, history
 *   DATASETS                            <tenant>#<dataset> registry the scheduled refresh walks
 *
 * A segment's members are no items: each version keeps them as immutable pages in S3
 * (objectKeys.memberPage and memberIndex, pipeline/member-pages.ts).
 */

import { fileSafeId } from "../engine/segment-ids";
import { PREFIXES } from "../resources";

export const datasetPk = (tenant: string, dataset: string) => `T#${tenant}#D#${dataset}`;
export const customerPk = (tenant: string, dataset: string, customer: string) =>
  `${datasetPk(tenant, dataset)}#C#${customer}`;
/**
 * The item a commit writes for its version, in the commit's transaction; versions zero-padded, so the sort key
 * orders them by number. A history entry is served only when its version's item exists (store/history.ts).
 */
export const VERSION_PREFIX = "VER#";
export const versionSk = (version: number) => `${VERSION_PREFIX}${String(version).padStart(10, "0")}`;

export const META_SK = "META";
export const CUSTOMER_SK = "C";
export const runSk = (runId: string) => `RUN#${runId}`;
export const UPLOAD_PREFIX = "UPLOAD#";
export const uploadSk = (uploadId: string) => `${UPLOAD_PREFIX}${uploadId}`;
export const ERASURE_PREFIX = "ERASURE#";
export const erasureSk = (erasureId: string) => `${ERASURE_PREFIX}${erasureId}`;
export const DEFINITION_PREFIX = "DEF#";
export const definitionSk = (segmentId: string) => `${DEFINITION_PREFIX}${segmentId}`;
export const REGISTRY_PK = "DATASETS";
export const registrySk = (tenant: string, dataset: string) => `${tenant}#${dataset}`;
/** Registry entries of one tenant; dataset ids cannot contain '#', so the prefix matches no other tenant. */
export const registryTenantPrefix = (tenant: string) => `${tenant}#`;

/**
 * Keys of the layout before member pages and in-item history, which a table written by an earlier release may
 * still hold: one item per membership (`#S#<segment>`, sort key the customer) and one per customer and version
 * of membership history (`#H#<customer>`). Nothing writes or reads them any more; erasure deletes a customer's.
 */
export const legacyMembershipPk = (tenant: string, dataset: string, segment: string) =>
  `${datasetPk(tenant, dataset)}#S#${segment}`;
export const legacyHistoryPk = (tenant: string, dataset: string, customer: string) =>
  `${datasetPk(tenant, dataset)}#H#${customer}`;

/** S3 object keys. Uploads are the only prefix that triggers computation. */
export const objectKeys = {
  uploadPrefix: (tenant: string, dataset: string, uploadId: string) =>
    `uploads/${tenant}/${dataset}/${uploadId}/`,
  report: (tenant: string, dataset: string, uploadId: string) =>
    `reports/${tenant}/${dataset}/${uploadId}/rejected-rows.csv`,
  aggregate: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/aggregate.bin`,
  export: (tenant: string, dataset: string, exportId: string, segmentId: string) =>
    `exports/${tenant}/${dataset}/${exportId}/${fileSafeId(segmentId)}.csv`,
  outputs: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/outputs.ndjson.gz`,
  /** The version's model values per customer, which dry runs read (pipeline/trait-snapshot.ts). */
  traits: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/traits.bin`,
  /** The version's consent and contact details per customer (destinations/contacts.ts). */
  contacts: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/contacts.ndjson.gz`,
  /** The version's members of every segment as bitsets, which overlap answers read (pipeline/membership.ts). */
  membership: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/membership.bin`,
  /** One segment's members in the version, one JSON id a line in byte order (pipeline/member-pages.ts). */
  memberPage: (tenant: string, dataset: string, version: number, segment: string) =>
    `state/${tenant}/${dataset}/v${version}/members/${fileSafeId(segment)}.ndjson`,
  /** Per segment of the version: members, bytes and every 1,000th id with its offset (pipeline/member-pages.ts). */
  memberIndex: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/members/index.json`,
  /** Every customer's membership history at the version, which the next run continues (history/entries.ts). */
  history: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/history.ndjson.gz`,
  /** The version's segment profiles with lift, which the segment answer serves (pipeline/profiles.ts). */
  profiles: (tenant: string, dataset: string, version: number) =>
    `state/${tenant}/${dataset}/v${version}/profiles.json.gz`,
  /** Everything of one dataset under a prefix; the trailing "/" keeps dataset "a" from matching "ab". */
  datasetPrefix: (prefix: "uploads" | "state" | "exports" | "reports", tenant: string, dataset: string) =>
    `${prefix}/${tenant}/${dataset}/`,
};

/** The version of a key under state/<tenant>/<dataset>/v<n>/, or undefined for any other key. */
export function stateVersionOf(key: string): number | undefined {
  const match = /^state\/[^/]+\/[^/]+\/v(\d+)\//.exec(key);
  return match ? Number(match[1]) : undefined;
}

/** Splits an upload object key into its parts, or returns undefined for a key outside the layout. */
export function parseUploadKey(
  key: string,
): { tenant: string; dataset: string; uploadId: string; fileName: string } | undefined {
  const match = /^uploads\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(key);
  if (!match) return undefined;
  const [, tenant, dataset, uploadId, fileName] = match;
  if (!tenant || !dataset || !uploadId || !fileName) return undefined;
  return { tenant, dataset, uploadId, fileName };
}

/**
 * Destinations (shared/store/destinations.ts):
 *
 *   pk                                       sk               item
 *   T#<tenant>#D#<dataset>                   DEST#<dst>       one destination (+ delivery lease, next seq)
 *   T#<tenant>#D#<dataset>                   DESTCOUNT        how many destinations the dataset has
 *   T#<tenant>#D#<dataset>#DST#<dst>         OUT#<seq>        one webhook delivery (outbox), seq zero-padded
 *   T#<tenant>#D#<dataset>#DST#<dst>         LOG#<at>#<seq>#<attempt>  one delivery attempt (TTL 30 days)
 *   DELIVERIES                               <tenant>#<dataset>#<dst>  a destination with deliveries waiting
 */
export const DESTINATION_PREFIX = "DEST#";
export const destinationSk = (destinationId: string) => `${DESTINATION_PREFIX}${destinationId}`;
export const DESTINATION_COUNT_SK = "DESTCOUNT";
export const destinationPk = (tenant: string, dataset: string, destination: string) =>
  `${datasetPk(tenant, dataset)}#DST#${destination}`;
export const OUTBOX_PREFIX = "OUT#";
export const outboxSk = (seq: number) => `${OUTBOX_PREFIX}${String(seq).padStart(12, "0")}`;
export const ATTEMPT_PREFIX = "LOG#";
export const attemptSk = (at: string, seq: number, attempt: number) =>
  `${ATTEMPT_PREFIX}${at}#${String(seq).padStart(12, "0")}#${String(attempt).padStart(4, "0")}`;
export const PENDING_DELIVERIES_PK = "DELIVERIES";
export const pendingDeliveriesSk = (tenant: string, dataset: string, destination: string) =>
  `${tenant}#${dataset}#${destination}`;
/** Webhook bodies waiting in an outbox, in the service bucket. */
export const deliveryPayloadKey = (tenant: string, dataset: string, destination: string, webhookId: string) =>
  `${PREFIXES.deliveries}${tenant}/${dataset}/${destination}/${webhookId}.json`;
