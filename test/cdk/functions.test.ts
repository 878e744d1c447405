/**
 * The functions of the synthesized stack: the settings the house construct promises (runtime, architecture,
 * tracing, logs, source maps, environment) and each function's IAM permissions, which must name exact
 * resources and only the actions the function uses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceFunction } from "../../infra/constructs/service-function";
import { PREFIXES } from "../../shared/resources";
import {
  functionProps,
  getAtt,
  logicalId,
  objectArn,
  permissions,
  ref,
  removeOutdirs,
  resourcesOfType,
  rolePermissions,
  type Synthesized,
  synth,
} from "./synth";

let sx: Synthesized;
let tableId: string;
let bucketId: string;
const XRAY: [string, string[]] = ["*", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]];
/** What SqsDestination grants a function to send its failed events to its queue. */
const SQS_SEND = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"];
/** The service's own event bus, the only one any function may put events on. */
const busArn = () => getAtt(logicalId(sx, sx.stack.bus), "Arn");
/** The queue that wakes the deliver function; SendMessage on it is all a producer gets. */
const deliveryQueueArn = () => getAtt(logicalId(sx, sx.stack.delivery.queue));
/** Every webhook secret of the stack, by its name prefix (test/cdk/delivery.test.ts has the rest). */
const WEBHOOK_SECRETS = {
  "Fn::Join": [
    "",
    [
      "arn:",
      { Ref: "AWS::Partition" },
      ":secretsmanager:",
      { Ref: "AWS::Region" },
      ":",
      { Ref: "AWS::AccountId" },
      ":secret:segmentation-dev/webhooks/*",
    ],
  ],
};
/** A function may write its logs to its own log group, and to no other. */
const ownLogs = (fn: ServiceFunction): [unknown, string[]] => [
  getAtt(logicalId(sx, fn.logGroup)),
  ["logs:CreateLogStream", "logs:PutLogEvents"],
];

beforeAll(() => {
  sx = synth();
  tableId = logicalId(sx, sx.stack.storage.table);
  bucketId = logicalId(sx, sx.stack.storage.bucket);
});
afterAll(removeOutdirs);

describe("house function settings", () => {
  it("runs every function on nodejs22.x, arm64, with active tracing and explicit memory and timeout", () => {
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      const props = functionProps(sx, fn);
      expect({
        name,
        runtime: props.Runtime,
        arch: props.Architectures,
        tracing: props.TracingConfig,
      }).toEqual({
        name,
        runtime: "nodejs22.x",
        arch: ["arm64"],
        tracing: { Mode: "Active" },
      });
      // CloudFormation omits both when left to Lambda's defaults (128 MB, 3 s).
      expect([typeof props.MemorySize, typeof props.Timeout], name).toEqual(["number", "number"]);
    }
  });

  it("sends each function's logs to its own log group with a retention period", () => {
    const groups = resourcesOfType(sx.template, "AWS::Logs::LogGroup");
    const seen = new Set<string | undefined>();
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      const props = functionProps(sx, fn);
      const groupId = (props.LoggingConfig?.LogGroup as { Ref: string } | undefined)?.Ref;
      expect(groupId, name).toBeDefined();
      expect(groups[groupId as string]?.Properties?.RetentionInDays, name).toEqual(expect.any(Number));
      seen.add(groupId);
    }
    expect(seen.size).toBe(Object.keys(sx.stack.functions).length);
  });

  it("gives every function the table, the bucket (but lookupApi, which reads no object), its log level, service name and source maps", () => {
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      expect(functionProps(sx, fn).Environment, name).toEqual({
        Variables: {
          TABLE_NAME: ref(tableId),
          ...(name === "lookupApi" ? {} : { BUCKET_NAME: ref(bucketId) }),
          LOG_LEVEL: "INFO",
          SERVICE_NAME: "segmentation",
          NODE_OPTIONS: "--enable-source-maps",
          // Only the HTTP functions resolve a caller's tenant.
          ...(name in sx.stack.api.functions
            ? { DEFAULT_TENANT: "default", SCOPE_PREFIX: "segmentation" }
            : {}),
          // Every function but the read functions, the shard workers and deliver puts events on the bus.
          ...(name === "readApi" || name === "lookupApi" || name === "shardWorkers" || name === "deliver"
            ? {}
            : { EVENT_BUS_NAME: ref(logicalId(sx, sx.stack.bus)) }),
          // Functions that commit runs, the sweeper (which serves a run that died before serving its
          // destinations) and writeApi wake the deliver function; the runs write destination files to the
          // buckets the deployment names (none here), which writeApi checks destinations against.
          ...(["compute", "refresh", "shardCoordinator", "sweeper", "writeApi"].includes(name)
            ? { DELIVERY_QUEUE_URL: ref(logicalId(sx, sx.stack.delivery.queue)), DESTINATION_BUCKETS: "" }
            : {}),
          // The functions that write metrics (shared/metrics.ts) know their namespace and service dimension.
          ...(["compute", "refresh", "sweeper", "shardWorkers", "shardCoordinator", "deliver"].includes(name)
            ? { POWERTOOLS_METRICS_NAMESPACE: "Segmentation/dev", POWERTOOLS_SERVICE_NAME: "segmentation" }
            : {}),
          // deliver wakes itself for what a pass had no time left for.
          ...(name === "deliver" ? { DELIVERY_QUEUE_URL: ref(logicalId(sx, sx.stack.delivery.queue)) } : {}),
          // writeApi creates webhook secrets and deliver reads them, under the stack's own name prefix.
          ...(name === "writeApi" || name === "deliver"
            ? { WEBHOOK_SECRET_PREFIX: "segmentation-dev/webhooks/" }
            : {}),
          // The pipeline functions hand large uploads and sharded datasets to the state machine.
          ...(name === "compute" || name === "refresh"
            ? {
                STATE_MACHINE_ARN: ref(logicalId(sx, sx.stack.sharding.stateMachine)),
                SHARD_THRESHOLD_BYTES: String(256 * 1024 * 1024),
              }
            : {}),
        },
      });
    }
  });

  it("traces every function of the template but CDK's deploy-time handlers (bucket notifications, site upload)", () => {
    const untraced = Object.entries(resourcesOfType(sx.template, "AWS::Lambda::Function"))
      .filter(([, r]) => (r.Properties?.TracingConfig as { Mode?: string } | undefined)?.Mode !== "Active")
      .map(([id]) => id);
    expect(untraced.length).toBeLessThanOrEqual(2);
    for (const id of untraced) expect(id).toMatch(/^(BucketNotificationsHandler|CustomCDKBucketDeployment)/);
  });

  it("gives each function a role of its own with no managed policy (so no account-wide log access)", () => {
    const roles = resourcesOfType(sx.template, "AWS::IAM::Role");
    const seen = new Set<string>();
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      const roleId: string = functionProps(sx, fn).Role["Fn::GetAtt"][0];
      expect(roles[roleId]?.Properties?.ManagedPolicyArns, name).toBeUndefined();
      seen.add(roleId);
    }
    expect(seen.size).toBe(Object.keys(sx.stack.functions).length);
  });
});

describe("IAM: exact actions on exact resources", () => {
  it("readApi only reads: items of the table, objects under exports/ and reports/ (to sign their downloads) and state/ (overlaps, member pages)", () => {
    expect(rolePermissions(sx, sx.stack.api.functions.readApi)).toEqual(
      permissions([
        XRAY,
        ownLogs(sx.stack.api.functions.readApi),
        [getAtt(tableId), ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"]],
        [objectArn(bucketId, PREFIXES.exports), ["s3:GetObject"]],
        [objectArn(bucketId, PREFIXES.reports), ["s3:GetObject"]],
        [objectArn(bucketId, PREFIXES.state), ["s3:GetObject"]],
        // A list's answer shows its first ids.
        [objectArn(bucketId, PREFIXES.lists), ["s3:GetObject"]],
      ]),
    );
  });

  it("lookupApi only reads table items (GetItem, which TransactGetItems is checked against), and no object", () => {
    expect(rolePermissions(sx, sx.stack.api.functions.lookupApi)).toEqual(
      permissions([XRAY, ownLogs(sx.stack.api.functions.lookupApi), [getAtt(tableId), ["dynamodb:GetItem"]]]),
    );
  });

  it("writeApi writes table items, may sign uploads under uploads/ only, asks for recomputes on the bus, manages webhook secrets and wakes the deliver function", () => {
    expect(rolePermissions(sx, sx.stack.api.functions.writeApi)).toEqual(
      permissions([
        XRAY,
        ownLogs(sx.stack.api.functions.writeApi),
        [
          getAtt(tableId),
          [
            "dynamodb:BatchWriteItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
          ],
        ],
        [objectArn(bucketId, PREFIXES.uploads), ["s3:PutObject"]],
        [objectArn(bucketId, PREFIXES.state), ["s3:GetObject"]],
        [objectArn(bucketId, PREFIXES.exports), ["s3:GetObject", "s3:PutObject"]],
        // List segments: a change writes the new revision's ids and deletes the old one's.
        [objectArn(bucketId, PREFIXES.lists), ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]],
        [busArn(), ["events:PutEvents"]],
        // Webhook destinations: secrets created and deleted, a deleted destination's outbox and bodies
        // deleted, the deliver function woken when one is enabled again.
        [WEBHOOK_SECRETS, ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"]],
        [objectArn(bucketId, PREFIXES.deliveries), ["s3:DeleteObject"]],
        [deliveryQueueArn(), ["sqs:SendMessage"]],
      ]),
    );
  });

  it("compute reads uploads (and rewrites those naming erased customers), reads and writes state, writes reports and webhook bodies, wakes the deliver function, and dead-letters to its own queue", () => {
    const queueId = logicalId(sx, sx.stack.pipeline.computeFailures);
    expect(rolePermissions(sx, sx.stack.pipeline.compute)).toEqual(
      permissions([
        XRAY,
        ownLogs(sx.stack.pipeline.compute),
        [
          getAtt(tableId),
          [
            "dynamodb:BatchWriteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
          ],
        ],
        [objectArn(bucketId, PREFIXES.uploads), ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]],
        [objectArn(bucketId, PREFIXES.state), ["s3:GetObject", "s3:PutObject"]],
        [objectArn(bucketId, PREFIXES.reports), ["s3:PutObject"]],
        [objectArn(bucketId, PREFIXES.deliveries), ["s3:PutObject"]],
        // Runs read the ids of list segments.
        [objectArn(bucketId, PREFIXES.lists), ["s3:GetObject"]],
        [busArn(), ["events:PutEvents"]],
        [getAtt(queueId), SQS_SEND],
        [deliveryQueueArn(), ["sqs:SendMessage"]],
        [ref(logicalId(sx, sx.stack.sharding.stateMachine)), ["states:StartExecution"]],
      ]),
    );
  });

  it("refresh reads and writes state, erases (uploads rewritten, items, old state and exports deleted, webhook bodies rewritten), writes webhook bodies, wakes the deliver function, and dead-letters to its own queue", () => {
    const queueId = logicalId(sx, sx.stack.pipeline.refreshFailures);
    expect(rolePermissions(sx, sx.stack.pipeline.refresh)).toEqual(
      permissions([
        XRAY,
        ownLogs(sx.stack.pipeline.refresh),
        [
          getAtt(tableId),
          [
            "dynamodb:BatchWriteItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
          ],
        ],
        [
          objectArn(bucketId, PREFIXES.uploads),
          ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        ],
        [objectArn(bucketId, PREFIXES.state), ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]],
        [objectArn(bucketId, PREFIXES.exports), ["s3:DeleteObject"]],
        // Webhook bodies: written by runs, rewritten without the customer by erasures (which list them).
        [objectArn(bucketId, PREFIXES.deliveries), ["s3:GetObject", "s3:PutObject"]],
        [getAtt(bucketId), ["s3:ListBucket"], { StringLike: { "s3:prefix": [`${PREFIXES.deliveries}*`] } }],
        // Refreshes read lists; erasures write each list without the customer and delete the old ids.
        [objectArn(bucketId, PREFIXES.lists), ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]],
        // Listing only the keys under state/ and exports/, not the bucket.
        [
          getAtt(bucketId),
          ["s3:ListBucket"],
          { StringLike: { "s3:prefix": [`${PREFIXES.state}*`, `${PREFIXES.exports}*`] } },
        ],
        [busArn(), ["events:PutEvents"]],
        [getAtt(queueId), SQS_SEND],
        [deliveryQueueArn(), ["sqs:SendMessage"]],
        [ref(logicalId(sx, sx.stack.sharding.stateMachine)), ["states:StartExecution"]],
      ]),
    );
  });

  it("sweeper reads datasets and runs, closes runs with PutItem, puts redeliveries on the bus, and serves unserved destinations (state read, webhook bodies written, outbox appended, deliver function woken)", () => {
    const queueId = logicalId(sx, sx.stack.pipeline.sweeperFailures);
    expect(rolePermissions(sx, sx.stack.pipeline.sweeper)).toEqual(
      permissions([
        XRAY,
        ownLogs(sx.stack.pipeline.sweeper),
        [
          getAtt(tableId),
          [
            "dynamodb:BatchWriteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
          ],
        ],
        [objectArn(bucketId, PREFIXES.state), ["s3:GetObject", "s3:PutObject"]],
        [objectArn(bucketId, PREFIXES.deliveries), ["s3:PutObject"]],
        [busArn(), ["events:PutEvents"]],
        [getAtt(queueId), SQS_SEND],
        [deliveryQueueArn(), ["sqs:SendMessage"]],
      ]),
    );
  });

  it("grants no wildcard action, and `*` resources only to X-Ray (which has no resource-level ARNs)", () => {
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      for (const [resource, actions] of rolePermissions(sx, fn)) {
        expect(
          actions.filter((a) => a.includes("*")),
          name,
        ).toEqual([]);
        if (resource === JSON.stringify("*")) {
          expect(
            actions.every((a) => a.startsWith("xray:")),
            `${name} on *: ${actions}`,
          ).toBe(true);
        }
      }
    }
  });
});
