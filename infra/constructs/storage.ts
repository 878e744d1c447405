/**
 * Where the service keeps its data: one bucket (uploads, reports, state, exports under the prefixes of
 * shared/resources) and one single-table DynamoDB table (keys and TTL attribute from shared/resources, the
 * same definitions the local service creates its table from).
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type BucketProps,
  HttpMethods,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import {
  EXPORT_RETENTION_DAYS,
  PREFIXES,
  TABLE_KEYS,
  UPLOAD_URL_TTL_SECONDS,
  WORK_RETENTION_DAYS,
} from "../../shared/resources";

export interface StorageProps {
  /** Deletes bucket (and objects) and table with the stack; otherwise both are retained. */
  readonly destroyOnRemoval: boolean;
  /** Browser origins that may POST presigned uploads straight to the bucket. */
  readonly corsOrigins: readonly string[];
  /** How long an overwritten or deleted object version stays recoverable. */
  readonly noncurrentVersionRetention?: Duration;
}

/**
 * What every bucket of the stack is: no public access, ACLs off, encrypted at rest, TLS 1.2 or later only.
 * S3-managed keys: presigned POSTs and the functions need no KMS grants, and nothing here calls for a
 * customer-managed key yet. Moving to KMS means adding kms:GenerateDataKey/Decrypt to the binds.
 */
export const PRIVATE_BUCKET = {
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
  encryption: BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
} satisfies BucketProps;

export class Storage extends Construct {
  readonly bucket: Bucket;
  readonly table: Table;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const removalPolicy = props.destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.bucket = new Bucket(this, "Bucket", {
      ...PRIVATE_BUCKET,
      versioned: true,
      lifecycleRules: [
        {
          id: "expire-noncurrent-versions",
          noncurrentVersionExpiration: props.noncurrentVersionRetention ?? Duration.days(30),
        },
        {
          // A browser that gives up half-way through a large upload leaves parts that are billed but invisible.
          id: "abort-incomplete-multipart-uploads",
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          // Member exports hold personal data; their download links live minutes, the files a day.
          id: "expire-exports",
          prefix: PREFIXES.exports,
          expiration: Duration.days(EXPORT_RETENTION_DAYS),
        },
        {
          // Intermediate objects of sharded runs: needed only while the run's execution lasts.
          id: "expire-work",
          prefix: PREFIXES.work,
          expiration: Duration.days(WORK_RETENTION_DAYS),
        },
        {
          id: "remove-expired-delete-markers",
          expiredObjectDeleteMarker: true,
        },
      ],
      // Without browser origins there is no CORS rule at all: server-side clients need none.
      ...(props.corsOrigins.length > 0
        ? {
            cors: [
              {
                allowedMethods: [HttpMethods.POST],
                allowedOrigins: [...props.corsOrigins],
                allowedHeaders: ["*"],
                exposedHeaders: ["ETag", "Location"],
                maxAge: UPLOAD_URL_TTL_SECONDS,
              },
            ],
          }
        : {}),
      removalPolicy,
      // A versioned bucket cannot be deleted while it holds versions; destroy stages empty it first.
      autoDeleteObjects: props.destroyOnRemoval,
    });

    NagSuppressions.addResourceSuppressions(this.bucket, [
      {
        id: "AwsSolutions-S1",
        reason:
          "S3 server access logs record every requester's IP address and user agent, which the service keeps " +
          "out of its logs as personal data (the API's access logs leave them out too). Object-level audit, " +
          "where a deployer needs it, is a CloudTrail data-event trail on this bucket.",
      },
    ]);

    this.table = new Table(this, "Table", {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      timeToLiveAttribute: TABLE_KEYS.ttlAttribute,
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: !props.destroyOnRemoval,
      removalPolicy,
    });
  }
}
