/**
 * Erasure of one customer from the webhook bodies the service holds (shared/pipeline/erase.ts calls it).
 * Every body of the dataset's outboxes, pending or already sent, is read, and one that names the customer
 * in `entered` or `left` is written again without the id, in place, under the same key: a delivery still
 * pending is then sent without the customer, on its first attempt or its next retry. Outbox entries and the
 * attempt log hold counts only, never ids, so they have nothing to erase.
 */
import type { BlobStore } from "../pipeline/ports";
import { PREFIXES } from "../resources";
import type { MembershipChangedPayload } from "./model";

/** Where the webhook bodies of a dataset's destinations are kept. */
export const deliveryPayloadPrefix = (tenantId: string, datasetId: string) =>
  `${PREFIXES.deliveries}${tenantId}/${datasetId}/`;

/** Rewrites the bodies naming the customer without them; returns how many were rewritten. */
export async function eraseFromDeliveryPayloads(
  blobs: Pick<BlobStore, "list" | "get" | "put">,
  tenantId: string,
  datasetId: string,
  customerId: string,
): Promise<number> {
  let rewritten = 0;
  for (const key of await blobs.list(deliveryPayloadPrefix(tenantId, datasetId))) {
    const bytes = await blobs.get(key);
    if (!bytes) continue;
    const body = JSON.parse(Buffer.from(bytes).toString("utf8")) as MembershipChangedPayload;
    const { entered, left } = body.data;
    if (!entered.includes(customerId) && !left.includes(customerId)) continue;
    const data = {
      ...body.data,
      entered: entered.filter((id) => id !== customerId),
      left: left.filter((id) => id !== customerId),
    };
    await blobs.put(key, JSON.stringify({ ...body, data }), "application/json");
    rewritten++;
  }
  return rewritten;
}
