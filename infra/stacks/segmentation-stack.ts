/**
 * The whole service in one stack: storage, the HTTPS API, the computation pipeline and the alarms watching
 * them. Constructs are exposed as fields so tests and later additions (authorizer, cdk-nag
 * acknowledgements, an alarm topic) can reach them without digging through the construct tree.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import type { HttpFunctionName } from "../../shared/routes";
import type { AppConfig } from "../config";
import { Api, type RouteAuthorizer } from "../constructs/api";
import { Observability } from "../constructs/observability";
import { Pipeline } from "../constructs/pipeline";
import type { FunctionDefaults, ServiceFunction } from "../constructs/service-function";
import { Storage } from "../constructs/storage";

/** Value of SERVICE_NAME in every function; the logger's service field. */
export const SERVICE_NAME = "segmentation";

export interface SegmentationStackProps extends StackProps {
  readonly config: AppConfig;
  /** Authorization of protected routes; omitted, every route is public. */
  readonly authorize?: RouteAuthorizer;
}

export class SegmentationStack extends Stack {
  readonly storage: Storage;
  readonly api: Api;
  readonly pipeline: Pipeline;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: SegmentationStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.storage = new Storage(this, "Storage", {
      destroyOnRemoval: config.destroyOnRemoval,
      corsOrigins: config.corsOrigins,
    });

    const functionDefaults: FunctionDefaults = {
      logRetention: config.logRetentionDays,
      logRemovalPolicy: config.destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      environment: { LOG_LEVEL: config.logLevel, SERVICE_NAME },
    };

    this.api = new Api(this, "Api", {
      table: this.storage.table,
      bucket: this.storage.bucket,
      functionDefaults,
      throttle: { rateLimit: config.apiRateLimit, burstLimit: config.apiBurstLimit },
      corsOrigins: config.corsOrigins,
      ...(props.authorize ? { authorize: props.authorize } : {}),
    });

    this.pipeline = new Pipeline(this, "Pipeline", {
      table: this.storage.table,
      bucket: this.storage.bucket,
      functionDefaults,
      computeReservedConcurrency: config.computeReservedConcurrency,
      refreshReservedConcurrency: config.refreshReservedConcurrency,
    });

    this.observability = new Observability(this, "Observability", {
      functions: this.functions,
      deadLetterQueues: {
        computeFailures: this.pipeline.computeFailures,
        refreshFailures: this.pipeline.refreshFailures,
        scheduleDeadLetters: this.pipeline.scheduleDeadLetters,
      },
    });

    new CfnOutput(this, "ApiUrl", { value: this.api.url, description: "Base URL of the HTTPS API" });
    new CfnOutput(this, "BucketName", { value: this.storage.bucket.bucketName, description: "Data bucket" });
    new CfnOutput(this, "TableName", { value: this.storage.table.tableName, description: "Data table" });
  }

  /** Every function of the service, by the name the observability alarms use. */
  get functions(): Readonly<Record<HttpFunctionName | "compute" | "refresh", ServiceFunction>> {
    return { ...this.api.functions, compute: this.pipeline.compute, refresh: this.pipeline.refresh };
  }
}
