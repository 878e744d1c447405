/** Serves the read routes of the table in shared/routes. */
import { readApiRoutes } from "../../shared/api/functions";
import { apiHandler } from "../../shared/http/api";
import type { Runtime } from "../../shared/runtime";

/** What the read routes work with. */
export type ReadApiDeps = Pick<
  Runtime,
  | "store"
  | "cursors"
  | "events"
  | "blobs"
  | "members"
  | "destinations"
  | "secrets"
  | "deliveryQueue"
  | "history"
  | "lists"
  | "lookalikes"
> & {
  config: Pick<
    Runtime["config"],
    "ALLOW_LOOPBACK_WEBHOOKS" | "SCOPE_PREFIX" | "DEFAULT_TENANT" | "REQUIRE_TENANT_CLAIM"
  >;
};

/** The read function's API handler on these dependencies. */
export function createReadApiHandler(rt: ReadApiDeps) {
  const deps = {
    store: rt.store,
    cursors: rt.cursors,
    events: rt.events,
    blobs: rt.blobs,
    members: rt.members,
    destinations: rt.destinations,
    secrets: rt.secrets,
    deliveryQueue: rt.deliveryQueue,
    allowLoopbackWebhooks: rt.config.ALLOW_LOOPBACK_WEBHOOKS,
    history: rt.history,
    lists: rt.lists,
    lookalikes: rt.lookalikes,
    listIds: async (tenantId: string, datasetId: string) =>
      (await rt.lists.listLists(tenantId, datasetId)).map((l) => l.listId),
    scopePrefix: rt.config.SCOPE_PREFIX,
  };
  return apiHandler("readApi", readApiRoutes(deps), {
    defaultTenant: rt.config.DEFAULT_TENANT,
    scopePrefix: rt.config.SCOPE_PREFIX,
    requireTenantClaim: rt.config.REQUIRE_TENANT_CLAIM,
  });
}
