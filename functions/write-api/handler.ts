/** Serves the write routes of the table in shared/routes. */
import { datasetRoutes } from "../../shared/api/datasets";
import { destinationRoutes } from "../../shared/api/destinations";
import { exportRoutes } from "../../shared/api/exports";
import { listRoutes } from "../../shared/api/lists";
import { writeRoutes } from "../../shared/api/write";
import { apiHandler } from "../../shared/http/api";
import { runtime } from "../../shared/runtime";

const rt = runtime();

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
  listIds: async (tenantId: string, datasetId: string) =>
    (await rt.lists.listLists(tenantId, datasetId)).map((l) => l.listId),
};

export const handler = apiHandler(
  "writeApi",
  {
    ...writeRoutes(deps),
    ...datasetRoutes(deps),
    ...listRoutes(deps),
    ...exportRoutes(deps),
    ...destinationRoutes(deps),
  },
  {
    defaultTenant: rt.config.DEFAULT_TENANT,
    scopePrefix: rt.config.SCOPE_PREFIX,
    requireTenantClaim: rt.config.REQUIRE_TENANT_CLAIM,
  },
);
