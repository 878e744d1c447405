/** Serves the write routes of the table in shared/routes. */
import { writeRoutes } from "../../shared/api/write";
import { apiHandler } from "../../shared/http/api";
import { runtime } from "../../shared/runtime";

const rt = runtime();

export const handler = apiHandler("writeApi", writeRoutes({ store: rt.store, signer: rt.signer }), {
  defaultTenant: rt.config.DEFAULT_TENANT,
});
