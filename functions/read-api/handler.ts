/** Serves the read routes of the table in shared/routes. */
import { datasetRoutes } from "../../shared/api/datasets";
import { destinationRoutes } from "../../shared/api/destinations";
import { docsRoutes } from "../../shared/api/docs";
import { historyRoutes } from "../../shared/api/history";
import { listRoutes } from "../../shared/api/lists";
import { overlapRoutes } from "../../shared/api/overlap";
import { readRoutes } from "../../shared/api/read";
import { apiHandler } from "../../shared/http/api";
import { runtime } from "../../shared/runtime";

const rt = runtime();

const deps = {
  store: rt.store,
  cursors: rt.cursors,
  events: rt.events,
  blobs: rt.blobs,
  destinations: rt.destinations,
  secrets: rt.secrets,
  deliveryQueue: rt.deliveryQueue,
  allowLoopbackWebhooks: rt.config.ALLOW_LOOPBACK_WEBHOOKS,
  history: rt.history,
  lists: rt.lists,
  listIds: async (tenantId: string, datasetId: string) =>
    (await rt.lists.listLists(tenantId, datasetId)).map((l) => l.listId),
};

export const handler = apiHandler(
  "readApi",
  {
    ...readRoutes(deps),
    ...overlapRoutes(deps),
    ...historyRoutes(deps),
    ...datasetRoutes(deps),
    ...listRoutes(deps),
    ...destinationRoutes(deps),
    ...docsRoutes({ scopePrefix: rt.config.SCOPE_PREFIX }),
  },
  {
    defaultTenant: rt.config.DEFAULT_TENANT,
    scopePrefix: rt.config.SCOPE_PREFIX,
    requireTenantClaim: rt.config.REQUIRE_TENANT_CLAIM,
  },
);
