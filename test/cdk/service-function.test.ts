/**
 * The house function construct on its own: environment merging and the guards of its bind methods. Built
 * in a bare stack with bundling off, since only the construct's wiring is under test.
 */
import { App, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AttributeType, Table } from "aws-cdk-lib/aws-dynamodb";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Bucket } from "aws-cdk-lib/aws-s3";
import { afterAll, describe, expect, it } from "vitest";
import { ServiceFunction } from "../../infra/constructs/service-function";
import { removeOutdirs, tempOutdir } from "./synth";

afterAll(removeOutdirs);

function fixture(environment?: Record<string, string>) {
  const app = new App({ outdir: tempOutdir(), context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Stack(app, "Test");
  const table = new Table(stack, "Table", { partitionKey: { name: "pk", type: AttributeType.STRING } });
  const bucket = new Bucket(stack, "Bucket");
  const fn = new ServiceFunction(stack, "Fn", {
    entryName: "read-api",
    description: "test",
    memorySize: 256,
    timeout: Duration.seconds(5),
    logRetention: RetentionDays.ONE_WEEK,
    logRemovalPolicy: RemovalPolicy.DESTROY,
    ...(environment ? { environment } : {}),
  });
  return { stack, table, bucket, fn };
}

describe("ServiceFunction", () => {
  it("merges its own, the caller's and the bound variables into one environment", () => {
    const { stack, table, bucket, fn } = fixture({ LOG_LEVEL: "DEBUG" });
    fn.bindTable(table, ["GetItem"]).bindBucket(bucket, [{ prefix: "exports/", actions: ["GetObject"] }]);
    Template.fromStack(stack).hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: {
          NODE_OPTIONS: "--enable-source-maps",
          LOG_LEVEL: "DEBUG",
          TABLE_NAME: { Ref: stack.getLogicalId(table.node.defaultChild as never) },
          BUCKET_NAME: { Ref: stack.getLogicalId(bucket.node.defaultChild as never) },
        },
      },
    });
  });

  it("refuses to bind a second table under the same variable", () => {
    const { stack, table, fn } = fixture();
    const other = new Table(stack, "Other", { partitionKey: { name: "pk", type: AttributeType.STRING } });
    fn.bindTable(table, ["GetItem"]);
    expect(() => fn.bindTable(other, ["GetItem"])).toThrow(/TABLE_NAME is already set/);
  });

  it("accepts the same variable twice when the value is the same", () => {
    const { fn } = fixture();
    fn.setEnvironment("A", "1").setEnvironment("A", "1");
    expect(fn.environment.A).toBe("1");
  });

  it("refuses prefixes that would widen the grant: empty, rooted, without a trailing slash, or with a wildcard", () => {
    const { bucket, fn } = fixture();
    for (const prefix of ["", "/", "/uploads/", "uploads", "uploads/*/", "*"]) {
      expect(() => fn.bindBucket(bucket, [{ prefix, actions: ["GetObject"] }]), prefix).toThrow(/prefix/);
    }
  });
});
