/** Serves the write routes of the table in shared/routes. */
import { writeApiRoutes } from "../../shared/api/functions";
import { apiHandler } from "../../shared/http/api";
import type { Runtime } from "../../shared/runtime";

/** What the write routes work with. */
export type WriteApiDeps = Pick<
  Runtime,
  | "store"
  | "blobs"
  | "signer"
  | "cursors"
  | "events"
  | "destinations"
  | "secrets"
  | "deliveryQueue"
  | "lists"
  | "lookalikes"
> & {
  config: Pick<
    Runtime["config"],
    | "ALLOW_LOOPBACK_WEBHOOKS"
    | "DESTINATION_BUCKETS"
    | "SCOPE_PREFIX"
    | "DEFAULT_TENANT"
    | "REQUIRE_TENANT_CLAIM"
  >;
};

/** The write function's API handler on these dependencies. */
export function createWriteApiHandler(rt: WriteApiDeps) {
  const deps = {
    store: rt.store,
    blobs: rt.blobs,
    signer: rt.signer,
    cursors: rt.cursors,
    events: rt.events,
    destinations: rt.destinations,
    secrets: rt.secrets,
    deliveryQueue: rt.deliveryQueue,
    allowLoopbackWebhooks: rt.config.ALLOW_LOOPBACK_WEBHOOKS,
    destinationBuckets: rt.config.DESTINATION_BUCKETS,
    lists: rt.lists,
    lookalikes: rt.lookalikes,
    listIds: async (tenantId: string, datasetId: string) =>
      (await rt.lists.listLists(tenantId, datasetId)).map((l) => l.listId),
  };
  return apiHandler("writeApi", writeApiRoutes(deps), {
    defaultTenant: rt.config.DEFAULT_TENANT,
    scopePrefix: rt.config.SCOPE_PREFIX,
    requireTenantClaim: rt.config.REQUIRE_TENANT_CLAIM,
  });
}
