/**
 * Erasure of one customer from the webhook bodies the service holds (shared/pipeline/erase.ts calls it).
 * Every body of the dataset's outboxes, pending or already sent, is read, and one that names the customer
 * in `entered` or `left` is written again without the id, in place, under the same key: a delivery still
 * pending is then sent without the customer, on its first attempt or its next retry. Outbox entries and the
 * attempt log hold counts only, never ids; the counts of a rewritten body's outbox entry are set to the new
 * body's.
 */
import type { BlobStore } from "../pipeline/ports";
import { PREFIXES } from "../resources";
import type { MembershipChangedPayload } from "./model";
import type { DestinationStore } from "./ports";

/** Where the webhook bodies of a dataset's destinations are kept. */
export const deliveryPayloadPrefix = (tenantId: string, datasetId: string) =>
  `${PREFIXES.deliveries}${tenantId}/${datasetId}/`;

/** Rewrites the bodies naming the customer without them; returns how many were rewritten. */
export async function eraseFromDeliveryPayloads(
  blobs: Pick<BlobStore, "list" | "get" | "put">,
  tenantId: string,
  datasetId: string,
  customerId: string,
  destinations?: Pick<DestinationStore, "listDeliveries" | "setDeliveryCounts">,
): Promise<number> {
  let rewritten = 0;
  /** New counts per payload key, per destination. */
  const recount = new Map<string, Map<string, { entered: number; left: number }>>();
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
    const destinationId = key.slice(deliveryPayloadPrefix(tenantId, datasetId).length).split("/")[0] ?? "";
    const counts = recount.get(destinationId) ?? new Map();
    counts.set(key, { entered: data.entered.length, left: data.left.length });
    recount.set(destinationId, counts);
  }
  if (destinations) {
    for (const [destinationId, counts] of recount) {
      const ref = { tenantId, datasetId, destinationId };
      let after: string | undefined;
      do {
        const page = await destinations.listDeliveries(ref, 100, after);
        for (const delivery of page.items) {
          const c = counts.get(delivery.payloadKey);
          if (c && (c.entered !== delivery.entered || c.left !== delivery.left))
            await destinations.setDeliveryCounts(ref, delivery.seq, c);
        }
        after = page.next;
      } while (after !== undefined);
    }
  }
  return rewritten;
}
