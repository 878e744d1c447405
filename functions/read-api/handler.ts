/** Serves the read routes of the table in shared/routes. */
import { readRoutes } from "../../shared/api/read";
import { apiHandler } from "../../shared/http/api";
import { runtime } from "../../shared/runtime";

const rt = runtime();

export const handler = apiHandler("readApi", readRoutes({ store: rt.store, cursors: rt.cursors }), {
  defaultTenant: rt.config.DEFAULT_TENANT,
});
