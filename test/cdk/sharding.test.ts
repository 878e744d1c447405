/**
 * The sharded-run state machine as synthesized: its states and how they connect, the distributed maps'
 * concurrency and failure tolerance, retries and failure handling on every step, and the IAM of the state
 * machine, of its two functions, and of the functions that start it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STEP_RETRY } from "../../infra/constructs/sharding";
import { SHARD_ACTIONS } from "../../shared/pipeline/sharded-contract";
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
let definition: { StartAt: string; States: Record<string, State>; TimeoutSeconds?: number };
let machineId: string;
let workersArn: string;
let coordinatorArn: string;

// biome-ignore lint/suspicious/noExplicitAny: ASL is JSON read field by field and checked by the assertions.
type State = Record<string, any>;

/**
 * The definition as JSON: CloudFormation builds it with Fn::Join around references, which are replaced
 * here by `<LogicalId.Attribute>` / `<LogicalId>` so the rest parses as the ASL Step Functions receives.
 */
function definitionOf(resource: State): typeof definition {
  const parts = resource.Properties.DefinitionString["Fn::Join"][1] as unknown[];
  const text = parts
    .map((p) => {
      if (typeof p === "string") return p;
      const getAtt = (p as { "Fn::GetAtt"?: [string, string] })["Fn::GetAtt"];
      if (getAtt) return `<${getAtt[0]}.${getAtt[1]}>`;
      const r = (p as { Ref?: string }).Ref;
      if (r) return `<${r}>`;
      throw new Error(`unexpected part ${JSON.stringify(p)}`);
    })
    .join("");
  return JSON.parse(text);
}

beforeAll(() => {
  sx = synth({ shardMaxConcurrency: "12" }, { bundling: false });
  machineId = logicalId(sx, sx.stack.sharding.stateMachine);
  const machine = resourcesOfType(sx.template, "AWS::StepFunctions::StateMachine")[machineId];
  definition = definitionOf(machine as State);
  workersArn = `<${sx.stack.sharding.workers.logicalId}.Arn>`;
  coordinatorArn = `<${sx.stack.sharding.coordinator.logicalId}.Arn>`;
});
afterAll(removeOutdirs);

/** The state each state goes to, following Next, Choice default and Default-less ends. */
function next(name: string): string | undefined {
  const state = definition.States[name] as State;
  return state.Next ?? state.Default;
}

describe("states", () => {
  it("run Plan → Partition → Aggregate → Merge → Write → Commit, with a way out after Plan", () => {
    expect(definition.StartAt).toBe("Plan");
    expect(next("Plan")).toBe("Proceed");
    const choice = definition.States.Proceed as State;
    expect(choice.Type).toBe("Choice");
    expect(choice.Choices).toEqual([
      { Variable: "$.plan.proceed", BooleanEquals: false, Next: "NothingToDo" },
    ]);
    expect(definition.States.NothingToDo?.Type).toBe("Succeed");
    const path = ["Partition", "Aggregate", "Merge", "Write", "Commit", "Committed"];
    expect(choice.Default).toBe(path[0]);
    for (let i = 0; i + 1 < path.length; i++) expect(next(path[i] as string), path[i]).toBe(path[i + 1]);
    expect(definition.States.Committed?.Type).toBe("Succeed");
  });

  it("invokes the coordinator for plan, merge, commit and fail, with the action and the run", () => {
    const expected: Record<string, [string, Record<string, string>]> = {
      Plan: ["plan", { "upload.$": "$.upload" }],
      Merge: ["merge", { "run.$": "$.plan.run" }],
      Commit: ["commit", { "run.$": "$.plan.run" }],
      RecordFailure: ["fail", { "input.$": "$" }],
    };
    for (const [name, [action, fields]] of Object.entries(expected)) {
      const state = definition.States[name] as State;
      expect(state.Type, name).toBe("Task");
      // The function itself is the resource (the payload-only integration): its answer is the step's result.
      expect(state.Resource, name).toBe(coordinatorArn);
      expect(state.Parameters, name).toEqual({ action, ...fields });
      expect(SHARD_ACTIONS).toContain(action);
    }
    expect(definition.States.Plan?.ResultPath).toBe("$.plan");
    expect(definition.States.Merge?.ResultPath).toBe("$.merge");
    expect(definition.States.Commit?.ResultPath).toBeNull();
  });

  it("fans partition, aggregate and write out as distributed maps on the workers, 12 at a time, failing on any failure", () => {
    const maps: Record<string, [string, string, string]> = {
      Partition: ["$.plan.ranges", "partition", "range"],
      Aggregate: ["$.plan.buckets", "aggregate", "bucket"],
      Write: ["$.merge.slices", "write", "slice"],
    };
    for (const [name, [itemsPath, action, item]] of Object.entries(maps)) {
      const map = definition.States[name] as State;
      expect(map.Type, name).toBe("Map");
      expect(map.ItemsPath, name).toBe(itemsPath);
      expect(map.MaxConcurrency, name).toBe(12);
      // Nothing tolerated: absent fields mean 0 % and 0 items for Step Functions.
      expect(map.ToleratedFailurePercentage ?? 0, name).toBe(0);
      expect(map.ToleratedFailureCount ?? 0, name).toBe(0);
      expect(map.ResultPath, name).toBeNull();
      expect(map.ItemSelector, name).toEqual({
        action,
        "run.$": "$.plan.run",
        [`${item}.$`]: "$$.Map.Item.Value",
      });
      expect(map.ItemProcessor.ProcessorConfig, name).toEqual({
        Mode: "DISTRIBUTED",
        ExecutionType: "STANDARD",
      });
      const inner = map.ItemProcessor.States[map.ItemProcessor.StartAt] as State;
      expect(inner.Type, name).toBe("Task");
      expect(inner.Resource, name).toBe(workersArn);
      expect(inner.Parameters, name).toBeUndefined();
      expect(inner.Retry, name).toEqual([expectedRetry()]);
    }
  });

  it("retries every step on Lambda's transient errors and RetryableError, with capped jittered backoff", () => {
    for (const name of ["Plan", "Merge", "Commit", "RecordFailure"]) {
      expect(definition.States[name]?.Retry, name).toEqual([expectedRetry()]);
    }
    expect(STEP_RETRY.errors).toContain("Lambda.TooManyRequestsException");
    expect(STEP_RETRY.errors).toContain("RetryableError");
  });

  it("sends a step that failed for good to RecordFailure, then fails the execution", () => {
    for (const name of ["Plan", "Partition", "Aggregate", "Merge", "Write", "Commit"]) {
      expect(definition.States[name]?.Catch, name).toEqual([
        { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordFailure" },
      ]);
    }
    expect(definition.States.RecordFailure?.ResultPath).toBeNull();
    expect(next("RecordFailure")).toBe("RunFailed");
    expect(definition.States.RunFailed).toEqual({
      Type: "Fail",
      ErrorPath: "$.error.Error",
      CausePath: "$.error.Cause",
    });
  });

  it("times out, traces and logs the executions, and raises an alarm on a failed one", () => {
    const machine = resourcesOfType(sx.template, "AWS::StepFunctions::StateMachine")[machineId] as State;
    expect(machine.Properties.StateMachineType).toBe("STANDARD");
    expect(definition.TimeoutSeconds).toBe(2 * 3600);
    expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.Properties.LoggingConfiguration).toMatchObject({
      Level: "ALL",
      IncludeExecutionData: false,
    });
    sx.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "ExecutionsFailed",
      Namespace: "AWS/States",
      Dimensions: [{ Name: "StateMachineArn", Value: ref(machineId) }],
      Threshold: 1,
    });
  });
});

function expectedRetry() {
  return {
    ErrorEquals: [...(STEP_RETRY.errors ?? [])],
    IntervalSeconds: 2,
    MaxAttempts: 4,
    BackoffRate: 2,
    MaxDelaySeconds: 30,
    JitterStrategy: "FULL",
  };
}

describe("IAM", () => {
  it("the state machine may invoke its two functions and run its maps' child executions, nothing more", () => {
    const roleId = (resourcesOfType(sx.template, "AWS::StepFunctions::StateMachine")[machineId] as State)
      .Properties.RoleArn["Fn::GetAtt"][0] as string;
    const statements: State[] = [];
    for (const policy of Object.values(resourcesOfType(sx.template, "AWS::IAM::Policy"))) {
      const roles = (policy.Properties?.Roles ?? []) as unknown[];
      if (!roles.some((r) => JSON.stringify(r) === JSON.stringify(ref(roleId)))) continue;
      statements.push(...((policy.Properties as State).PolicyDocument as { Statement: State[] }).Statement);
    }
    const byAction = new Map<string, string[]>();
    for (const st of statements) {
      expect(st.Effect).toBe("Allow");
      for (const action of ([] as string[]).concat(st.Action)) {
        const list = byAction.get(action) ?? [];
        list.push(...([] as unknown[]).concat(st.Resource).map((r) => JSON.stringify(r)));
        byAction.set(action, list);
      }
    }
    const functions = [sx.stack.sharding.workers, sx.stack.sharding.coordinator].map((f) => f.logicalId);
    const invokes = byAction.get("lambda:InvokeFunction") ?? [];
    for (const id of functions) expect(invokes.join(" ")).toContain(id);
    expect(invokes.every((r) => functions.some((id) => r.includes(id)))).toBe(true);
    // Distributed maps start child executions of the same state machine.
    for (const action of ["states:StartExecution"]) {
      const resources = byAction.get(action) ?? [];
      expect(resources.length, action).toBeGreaterThan(0);
      expect(
        resources.every((r) => r.includes(machineId) || r.includes("stateMachine")),
        action,
      ).toBe(true);
    }
    const allowed = new Set([
      "lambda:InvokeFunction",
      "states:StartExecution",
      "states:DescribeExecution",
      "states:StopExecution",
      "states:RedriveExecution",
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]);
    expect([...byAction.keys()].filter((a) => !allowed.has(a))).toEqual([]);
  });

  it("workers read uploads and work objects and batch-write the table; nothing else", () => {
    const bucket = logicalId(sx, sx.stack.storage.bucket);
    const table = logicalId(sx, sx.stack.storage.table);
    const perms = rolePermissions(sx, sx.stack.sharding.workers);
    expect(perms).toEqual(
      permissions([
        [getAtt(table), ["dynamodb:BatchWriteItem"]],
        [objectArn(bucket, PREFIXES.uploads), ["s3:GetObject"]],
        [objectArn(bucket, PREFIXES.work), ["s3:GetObject", "s3:PutObject"]],
        ...logAndTrace(sx.stack.sharding.workers),
      ]),
    );
  });

  it("the coordinator also reads and writes state, writes reports, runs and the dataset, puts events, and writes webhook bodies and wakes the deliver function", () => {
    const bucket = logicalId(sx, sx.stack.storage.bucket);
    const table = logicalId(sx, sx.stack.storage.table);
    const perms = rolePermissions(sx, sx.stack.sharding.coordinator);
    expect(perms).toEqual(
      permissions([
        [
          getAtt(table),
          [
            "dynamodb:BatchWriteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
          ],
        ],
        [objectArn(bucket, PREFIXES.uploads), ["s3:GetObject"]],
        [objectArn(bucket, PREFIXES.work), ["s3:GetObject", "s3:PutObject"]],
        [objectArn(bucket, PREFIXES.state), ["s3:GetObject", "s3:PutObject"]],
        [objectArn(bucket, PREFIXES.reports), ["s3:PutObject"]],
        [objectArn(bucket, PREFIXES.deliveries), ["s3:PutObject"]],
        // Runs read the ids of list segments.
        [objectArn(bucket, PREFIXES.lists), ["s3:GetObject"]],
        [getAtt(logicalId(sx, sx.stack.bus)), ["events:PutEvents"]],
        [getAtt(logicalId(sx, sx.stack.delivery.queue)), ["sqs:SendMessage"]],
        ...logAndTrace(sx.stack.sharding.coordinator),
      ]),
    );
  });

  it("compute and refresh may start executions of this state machine only, and know its ARN and the threshold", () => {
    for (const fn of [sx.stack.pipeline.compute, sx.stack.pipeline.refresh]) {
      const perms = rolePermissions(sx, fn);
      const starts = [...perms].filter(([, actions]) => actions.includes("states:StartExecution"));
      expect(starts).toEqual([[JSON.stringify(ref(machineId)), ["states:StartExecution"]]]);
      const env = functionProps(sx, fn).Environment.Variables;
      expect(env.STATE_MACHINE_ARN).toEqual(ref(machineId));
      expect(env.SHARD_THRESHOLD_BYTES).toBe(String(256 * 1024 * 1024));
    }
  });
});

/** The statements every service function has: its own log group, and X-Ray. */
function logAndTrace(fn: typeof sx.stack.sharding.workers): Array<[unknown, string[]]> {
  return [
    [getAtt(logicalId(sx, fn.logGroup)), ["logs:CreateLogStream", "logs:PutLogEvents"]],
    ["*", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]],
  ];
}
