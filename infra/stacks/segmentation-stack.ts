/**
 * The whole service in one stack: storage, authentication, the HTTPS API, the computation pipeline and the
 * alarms watching them. Constructs are exposed as fields so tests and later additions (an alarm topic) can
 * reach them without digging through the construct tree.
 */
import { CfnOutput, Fn, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import { EventBus } from "aws-cdk-lib/aws-events";
import type { Construct } from "constructs";
import { metricsNamespace } from "../../shared/metrics";
import { PREFIXES } from "../../shared/resources";
import type { HttpFunctionName } from "../../shared/routes";
import type { AppConfig } from "../config";
import { Api } from "../constructs/api";
import { Auth, defaultDomainPrefix } from "../constructs/auth";
import { Delivery } from "../constructs/delivery";
import { Observability } from "../constructs/observability";
import { Pipeline } from "../constructs/pipeline";
import type { FunctionDefaults, ServiceFunction } from "../constructs/service-function";
import { Sharding } from "../constructs/sharding";
import { Site } from "../constructs/site";
import { Storage } from "../constructs/storage";

/** Value of SERVICE_NAME in every function; the logger's service field and the metrics' service dimension. */
export const SERVICE_NAME = "segmentation";

/** The functions that write metrics: those that end runs or deliver webhooks (the shard workers' cold starts). */
export const METRICS_FUNCTIONS = [
  "compute",
  "refresh",
  "sweeper",
  "shardWorkers",
  "shardCoordinator",
  "deliver",
] as const;

/** Name prefix of a stack's webhook secrets in Secrets Manager: `<stack name>/webhooks/`. */
export const webhookSecretPrefix = (stackName: string) => `${stackName}/webhooks/`;

export interface SegmentationStackProps extends StackProps {
  readonly config: AppConfig;
}

export class SegmentationStack extends Stack {
  readonly storage: Storage;
  readonly bus: EventBus;
  readonly auth: Auth;
  readonly api: Api;
  readonly pipeline: Pipeline;
  readonly sharding: Sharding;
  /** Webhook deliveries: their queue, the deliver function, its schedule and dead letters. */
  readonly delivery: Delivery;
  readonly observability: Observability;
  /** The dashboard; absent with `-c site=false`. */
  readonly site?: Site;

  constructor(scope: Construct, id: string, props: SegmentationStackProps) {
    super(scope, id, props);
    const { config } = props;

    // The dashboard's origin is the one browser origin the API and the bucket allow, unless more are set.
    if (config.site) this.site = new Site(this, "Site", { destroyOnRemoval: config.destroyOnRemoval });
    const corsOrigins = [...(this.site ? [this.site.origin] : []), ...config.corsOrigins];

    this.storage = new Storage(this, "Storage", {
      destroyOnRemoval: config.destroyOnRemoval,
      corsOrigins,
    });

    // The service's own bus: change events for CRM automations, and recompute requests.
    this.bus = new EventBus(this, "Bus", {
      description: "Segmentation runs, membership changes, recompute requests",
    });

    const functionDefaults: FunctionDefaults = {
      logRetention: config.logRetentionDays,
      logRemovalPolicy: config.destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      environment: { LOG_LEVEL: config.logLevel, SERVICE_NAME },
    };

    this.auth = new Auth(this, "Auth", {
      scopePrefix: config.scopePrefix,
      ...(config.oidcIssuer && config.oidcAudience
        ? { oidc: { issuer: config.oidcIssuer, audience: config.oidcAudience } }
        : {
            cognito: {
              domainPrefix: config.authDomainPrefix ?? defaultDomainPrefix(SERVICE_NAME, config.stage),
              callbackUrls: config.authCallbackUrls,
              destroyOnRemoval: config.destroyOnRemoval,
            },
          }),
    });

    this.api = new Api(this, "Api", {
      table: this.storage.table,
      bucket: this.storage.bucket,
      bus: this.bus,
      functionDefaults,
      throttle: { rateLimit: config.apiRateLimit, burstLimit: config.apiBurstLimit },
      corsOrigins,
      authorize: this.auth.authorizeRoute,
    });
    // The tenant of tokens without a tenant claim (see Auth): only the HTTP functions read it.
    for (const fn of Object.values(this.api.functions)) {
      fn.setEnvironment("DEFAULT_TENANT", config.defaultTenant);
      // The handlers check each route's scope again, under the same prefix the authorizer uses.
      fn.setEnvironment("SCOPE_PREFIX", config.scopePrefix);
    }

    this.pipeline = new Pipeline(this, "Pipeline", {
      table: this.storage.table,
      bucket: this.storage.bucket,
      bus: this.bus,
      functionDefaults,
      computeReservedConcurrency: config.computeReservedConcurrency,
      refreshReservedConcurrency: config.refreshReservedConcurrency,
    });

    // Uploads past the threshold, and refreshes of datasets that ran sharded, go to the state machine.
    this.sharding = new Sharding(this, "Sharding", {
      table: this.storage.table,
      bucket: this.storage.bucket,
      bus: this.bus,
      functionDefaults,
      maxConcurrency: config.shardMaxConcurrency,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: functionDefaults.logRemovalPolicy,
    });
    for (const fn of [this.pipeline.compute, this.pipeline.refresh]) {
      fn.bindStateMachine(this.sharding.stateMachine);
      fn.setEnvironment("SHARD_THRESHOLD_BYTES", String(config.shardThresholdMb * 1024 * 1024));
    }

    // Webhook secrets of this stack live under their own name prefix, so no other stage's are reachable.
    const secretPrefix = webhookSecretPrefix(this.stackName);
    this.delivery = new Delivery(this, "Delivery", {
      table: this.storage.table,
      bucket: this.storage.bucket,
      functionDefaults,
      secretPrefix,
      reservedConcurrency: config.deliveryReservedConcurrency,
    });
    // Functions that commit runs put webhook bodies in the outbox, wake the deliver function, and write
    // member-list and audience files to the destination buckets the deployment names; so does the sweeper,
    // which serves a committed run whose process died before serving them. An erasure (in refresh) also lists
    // the dataset's webhook bodies and rewrites those naming the customer.
    for (const fn of [
      this.pipeline.compute,
      this.pipeline.refresh,
      this.sharding.coordinator,
      this.pipeline.sweeper,
    ]) {
      const erases = fn === this.pipeline.refresh;
      fn.bindBucket(this.storage.bucket, [
        { prefix: PREFIXES.deliveries, actions: erases ? ["GetObject", "PutObject"] : ["PutObject"] },
      ])
        .bindQueueSender(this.delivery.queue, "DELIVERY_QUEUE_URL")
        .bindExternalBuckets(config.destinationBuckets);
      if (erases) fn.bindBucketListing(this.storage.bucket, [PREFIXES.deliveries]);
    }
    // The write API creates webhook secrets (a rotation creates a new one; a secret is shown once and never
    // read back) and deletes them; deleting a destination batch-deletes its outbox and attempt log and
    // deletes its waiting bodies; enabling one wakes the deliver function; file destinations are refused
    // for buckets the deployment does not name.
    this.api.functions.writeApi
      .bindSecrets(secretPrefix, ["CreateSecret", "DeleteSecret"])
      .bindTable(this.storage.table, ["BatchWriteItem"])
      .bindBucket(this.storage.bucket, [{ prefix: PREFIXES.deliveries, actions: ["DeleteObject"] }])
      .bindQueueSender(this.delivery.queue, "DELIVERY_QUEUE_URL")
      .setEnvironment("DESTINATION_BUCKETS", config.destinationBuckets.join(","));

    // The functions that write metrics (shared/metrics.ts) learn their namespace and service dimension here,
    // the ones the dashboard reads.
    const metrics = { namespace: metricsNamespace(config.stage), service: SERVICE_NAME };
    for (const name of METRICS_FUNCTIONS) {
      this.functions[name]
        .setEnvironment("POWERTOOLS_METRICS_NAMESPACE", metrics.namespace)
        .setEnvironment("POWERTOOLS_SERVICE_NAME", metrics.service);
    }

    this.observability = new Observability(this, "Observability", {
      functions: this.functions,
      deadLetterQueues: {
        computeFailures: this.pipeline.computeFailures,
        refreshFailures: this.pipeline.refreshFailures,
        scheduleDeadLetters: this.pipeline.scheduleDeadLetters,
        recomputeDeadLetters: this.pipeline.recomputeDeadLetters,
        erasureDeadLetters: this.pipeline.erasureDeadLetters,
        sweeperFailures: this.pipeline.sweeperFailures,
        sweepDeadLetters: this.pipeline.sweepDeadLetters,
        redeliveryDeadLetters: this.pipeline.redeliveryDeadLetters,
        deliveryDeadLetters: this.delivery.deadLetters,
        deliverySweepFailures: this.delivery.sweepFailures,
        deliverySweepDeadLetters: this.delivery.sweepDeadLetters,
      },
      metrics,
    });

    if (this.site) {
      this.site.deploy({
        apiUrl: this.api.url,
        apiOrigin: this.api.httpApi.apiEndpoint,
        dataBucket: this.storage.bucket,
      });
      new CfnOutput(this, "DashboardUrl", { value: this.site.url, description: "The dashboard" });
    }

    new CfnOutput(this, "ApiUrl", { value: this.api.url, description: "Base URL of the HTTPS API" });
    new CfnOutput(this, "BucketName", { value: this.storage.bucket.bucketName, description: "Data bucket" });
    new CfnOutput(this, "EventBusName", {
      value: this.bus.eventBusName,
      description: "Bus with run and segment-membership events (source 'segmentation')",
    });
    new CfnOutput(this, "DestinationWriterRoles", {
      value: Fn.join(
        ",",
        [this.pipeline.compute, this.pipeline.refresh, this.sharding.coordinator, this.pipeline.sweeper].map(
          (fn) => fn.role.roleArn,
        ),
      ),
      description:
        "Roles that write s3 and audience destination files; a bucket in another account lets them s3:PutObject and s3:PutObjectAcl",
    });
    new CfnOutput(this, "TableName", { value: this.storage.table.tableName, description: "Data table" });
    new CfnOutput(this, "TokenIssuer", { value: this.auth.issuer, description: "Issuer of accepted tokens" });
    new CfnOutput(this, "ScopePrefix", {
      value: config.scopePrefix,
      description: "Routes need <prefix>/read, <prefix>/write or <prefix>/admin",
    });
    const cognito = this.auth.cognito;
    if (cognito) {
      new CfnOutput(this, "UserPoolId", {
        value: cognito.userPool.userPoolId,
        description: "Cognito user pool",
      });
      new CfnOutput(this, "TokenEndpoint", {
        value: `${cognito.domain.baseUrl()}/oauth2/token`,
        description: "OAuth 2.0 token endpoint (client credentials and authorization code)",
      });
      new CfnOutput(this, "MachineClientId", {
        value: cognito.machineClient.userPoolClientId,
        description: "Client-credentials app client; its secret: aws cognito-idp describe-user-pool-client",
      });
      new CfnOutput(this, "UserClientId", {
        value: cognito.userClient.userPoolClientId,
        description: "Authorization-code app client for people",
      });
    }
  }

  /** Every function of the service, by the name the observability alarms use. */
  get functions(): Readonly<
    Record<
      HttpFunctionName | "compute" | "refresh" | "sweeper" | "shardWorkers" | "shardCoordinator" | "deliver",
      ServiceFunction
    >
  > {
    return {
      ...this.api.functions,
      compute: this.pipeline.compute,
      refresh: this.pipeline.refresh,
      sweeper: this.pipeline.sweeper,
      shardWorkers: this.sharding.workers,
      shardCoordinator: this.sharding.coordinator,
      deliver: this.delivery.deliver,
    };
  }
}
