/**
 * Serves the lookup route of the table in shared/routes: one customer's scores and segments, the call a CRM
 * or a web page makes per visitor. It is the read path kept small: the
 * HTTP shell, the auth checks and the error mapping are the ones every API function uses (shared/http), but
 * its own wiring reads only the configuration it needs and talks to DynamoDB through aws-lite (see
 * shared/store/lookup.ts) instead of the AWS SDK, so its bundle and cold start stay a fraction of readApi's
 * (`npm run bench:lookups` measures both).
 */
import awsLite from "@aws-lite/client";
import { lookupRoutes } from "../../shared/api/lookup";
import { parseLookupEnv } from "../../shared/api/lookup-checks";
import { apiHandler } from "../../shared/http/api";
import { DynamoLookupStore, lookupPlugin } from "../../shared/store/lookup";

/** The part of the service's configuration (shared/config) this function reads, with the same defaults. */
const config = parseLookupEnv(process.env);

const endpoint = config.AWS_ENDPOINT_URL_DYNAMODB ? new URL(config.AWS_ENDPOINT_URL_DYNAMODB) : undefined;
// Credentials come from the environment, as Lambda sets them; the shared config file is not read.
const aws = await awsLite({
  region: config.AWS_REGION,
  plugins: [lookupPlugin],
  // A caller is waiting: two retries of a throttled or failed read (with aws-lite's jittered backoff), not
  // the pipeline's patience.
  retries: 2,
  ...(endpoint
    ? {
        protocol: endpoint.protocol.replace(":", ""),
        host: endpoint.hostname,
        port: Number(endpoint.port || (endpoint.protocol === "https:" ? 443 : 80)),
      }
    : {}),
});

export const handler = apiHandler(
  "lookupApi",
  lookupRoutes({ store: new DynamoLookupStore(aws.SegmentationLookup, config.TABLE_NAME) }),
  {
    defaultTenant: config.DEFAULT_TENANT,
    scopePrefix: config.SCOPE_PREFIX,
    requireTenantClaim: config.REQUIRE_TENANT_CLAIM === "true",
  },
);
