/**
 * Storage in the synthesized stack: the bucket's hardening and the table's keys, expiry and recovery, and
 * what happens to both when the stack is deleted.
 */
import { Match } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPORT_RETENTION_DAYS, PREFIXES, TABLE_KEYS, WORK_RETENTION_DAYS } from "../../shared/resources";
import { getAtt, logicalId, ref, removeOutdirs, resourcesOfType, type Synthesized, synth } from "./synth";

let sx: Synthesized;
/** The same app with `-c destroyOnRemoval=true`, as a throw-away dev stage would set it. */
let dev: Synthesized;
let bucketId: string;
beforeAll(() => {
  // Bucket and table do not depend on function code: no bundling needed here.
  sx = synth({}, { bundling: false });
  dev = synth({ destroyOnRemoval: "true" }, { bundling: false });
  bucketId = logicalId(sx, sx.stack.storage.bucket);
});
afterAll(removeOutdirs);

describe("bucket", () => {
  it("blocks all public access and enforces bucket-owner ownership, on every bucket of the stack", () => {
    const buckets = resourcesOfType(sx.template, "AWS::S3::Bucket");
    expect(Object.keys(buckets)).toContain(bucketId);
    for (const [id, bucket] of Object.entries(buckets)) {
      expect(bucket.Properties, id).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
      });
    }
  });

  it("encrypts objects at rest", () => {
    sx.template.hasResourceProperties("AWS::S3::Bucket", {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: Match.stringLikeRegexp("^(AES256|aws:kms)$") } },
        ],
      },
    });
  });

  it("denies every request that does not use TLS, on every bucket of the stack", () => {
    for (const id of Object.keys(resourcesOfType(sx.template, "AWS::S3::Bucket"))) {
      sx.template.hasResourceProperties("AWS::S3::BucketPolicy", {
        Bucket: ref(id),
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Effect: "Deny",
              Principal: { AWS: "*" },
              Action: "s3:*",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
              Resource: [getAtt(id), { "Fn::Join": ["", [getAtt(id), "/*"]] }],
            },
          ]),
        },
      });
    }
  });

  it("keeps versions, and expires noncurrent versions and abandoned multipart uploads", () => {
    const rules = sx.template.toJSON().Resources[bucketId].Properties.LifecycleConfiguration.Rules as Array<
      Record<string, unknown>
    >;
    expect(sx.template.toJSON().Resources[bucketId].Properties.VersioningConfiguration).toEqual({
      Status: "Enabled",
    });
    const enabled = rules.filter(
      (r) => r.Status === "Enabled" && r.Prefix === undefined && r.Filter === undefined,
    );
    expect(
      enabled.some((r) => (r.NoncurrentVersionExpiration as { NoncurrentDays?: number })?.NoncurrentDays),
    ).toBe(true);
    expect(
      enabled.some(
        (r) => (r.AbortIncompleteMultipartUpload as { DaysAfterInitiation?: number })?.DaysAfterInitiation,
      ),
    ).toBe(true);
  });

  it("deletes member exports after EXPORT_RETENTION_DAYS and sharded runs' work after WORK_RETENTION_DAYS, nothing else by age", () => {
    const rules = sx.template.toJSON().Resources[bucketId].Properties.LifecycleConfiguration.Rules as Array<
      Record<string, unknown>
    >;
    const expiring = rules.filter((r) => r.Status === "Enabled" && r.ExpirationInDays !== undefined);
    expect(expiring).toEqual([
      expect.objectContaining({ Prefix: PREFIXES.exports, ExpirationInDays: EXPORT_RETENTION_DAYS }),
      expect.objectContaining({ Prefix: PREFIXES.work, ExpirationInDays: WORK_RETENTION_DAYS }),
    ]);
  });

  it("lets browsers POST presigned uploads, and nothing else cross-origin", () => {
    sx.template.hasResourceProperties("AWS::S3::Bucket", {
      CorsConfiguration: {
        CorsRules: [Match.objectLike({ AllowedMethods: ["POST"], AllowedOrigins: Match.anyValue() })],
      },
    });
  });

  it("is retained when the stack is deleted, unless destroyOnRemoval is set", () => {
    const buckets = resourcesOfType(sx.template, "AWS::S3::Bucket");
    expect(buckets[bucketId]?.DeletionPolicy).toBe("Retain");

    const devBucket = logicalId(dev, dev.stack.storage.bucket);
    expect(resourcesOfType(dev.template, "AWS::S3::Bucket")[devBucket]?.DeletionPolicy).toBe("Delete");
    // A versioned bucket only deletes once emptied, which the auto-delete custom resource does.
    dev.template.hasResourceProperties("Custom::S3AutoDeleteObjects", { BucketName: ref(devBucket) });
  });
});

describe("table", () => {
  it("keys items by string pk and sk from TABLE_KEYS, billed on demand", () => {
    sx.template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: [
        { AttributeName: TABLE_KEYS.partitionKey, KeyType: "HASH" },
        { AttributeName: TABLE_KEYS.sortKey, KeyType: "RANGE" },
      ],
      AttributeDefinitions: Match.arrayEquals([
        { AttributeName: TABLE_KEYS.partitionKey, AttributeType: "S" },
        { AttributeName: TABLE_KEYS.sortKey, AttributeType: "S" },
      ]),
      BillingMode: "PAY_PER_REQUEST",
    });
  });

  it("expires items on the TTL attribute", () => {
    sx.template.hasResourceProperties("AWS::DynamoDB::Table", {
      TimeToLiveSpecification: { AttributeName: TABLE_KEYS.ttlAttribute, Enabled: true },
    });
  });

  it("has point-in-time recovery and encryption at rest", () => {
    sx.template.hasResourceProperties("AWS::DynamoDB::Table", {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it("has point-in-time recovery and deletion protection, and is retained, on the prod stage", () => {
    const prod = synth({ stage: "prod" }, { bundling: false });
    expect(prod.stack.stackName).toBe("segmentation-prod");
    const table = resourcesOfType(prod.template, "AWS::DynamoDB::Table")[
      logicalId(prod, prod.stack.storage.table)
    ];
    expect({
      deletionPolicy: table?.DeletionPolicy,
      deletionProtection: table?.Properties?.DeletionProtectionEnabled,
      pitr: table?.Properties?.PointInTimeRecoverySpecification,
    }).toEqual({
      deletionPolicy: "Retain",
      deletionProtection: true,
      pitr: { PointInTimeRecoveryEnabled: true },
    });
  });

  it("is retained and deletion-protected, unless destroyOnRemoval is set", () => {
    const tableId = logicalId(sx, sx.stack.storage.table);
    const table = resourcesOfType(sx.template, "AWS::DynamoDB::Table")[tableId];
    expect([table?.DeletionPolicy, table?.Properties?.DeletionProtectionEnabled]).toEqual(["Retain", true]);

    const devTable = resourcesOfType(dev.template, "AWS::DynamoDB::Table")[
      logicalId(dev, dev.stack.storage.table)
    ];
    expect([devTable?.DeletionPolicy, devTable?.Properties?.DeletionProtectionEnabled]).toEqual([
      "Delete",
      false,
    ]);
  });
});
