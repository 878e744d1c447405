/**
 * The house Lambda function: every function of the service is built here, so runtime, architecture,
 * tracing, log retention, source maps and bundling are decided once. Access to the table and the bucket is
 * granted through `bindTable` / `bindBucket`, which add the exact IAM actions on the exact ARNs and set the
 * matching environment variable in the same call, so a function can never hold a permission without knowing
 * the resource, or the other way round.
 */
import { fileURLToPath } from "node:url";
import { ArnFormat, Aws, type CfnElement, type Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, type IDestination, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { LogLevel, NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import type { IStateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";

/** Root of the repository: bundling resolves entries and the lock file from here, whatever the cwd. */
export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Item-level DynamoDB actions a function may be granted. Transactions need no action of their own: IAM
 * checks each item of a TransactWriteItems / TransactGetItems against PutItem, UpdateItem, DeleteItem,
 * ConditionCheckItem and GetItem. Scan is left out on purpose: no code path needs it.
 */
export type TableAction =
  | "GetItem"
  | "BatchGetItem"
  | "Query"
  | "PutItem"
  | "UpdateItem"
  | "DeleteItem"
  | "BatchWriteItem"
  | "ConditionCheckItem";

/**
 * Object-level S3 actions a function may be granted on a key prefix. PutObject also covers the calls of a
 * multipart upload but its abort, which is AbortMultipartUpload.
 */
export type ObjectAction = "GetObject" | "PutObject" | "DeleteObject" | "AbortMultipartUpload";

/**
 * Secrets Manager actions a function may be granted on the secrets under a name prefix. Reading is
 * GetSecretValue; creating, rotating and deleting webhook secrets are the other four (CreateSecret with tags
 * also needs TagResource).
 */
export type SecretAction =
  | "GetSecretValue"
  | "CreateSecret"
  | "PutSecretValue"
  | "DeleteSecret"
  | "TagResource";

/** A secret name prefix: Secrets Manager's name characters, ending in "/", no wildcard. */
const SECRET_PREFIX = /^[A-Za-z0-9_+=.@-][A-Za-z0-9/_+=.@-]*\/$/;
/** An S3 bucket name (general purpose buckets: 3-63 lower-case letters, digits, '.', '-'). */
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export interface PrefixAccess {
  /** Key prefix ending in "/", e.g. PREFIXES.state. */
  readonly prefix: string;
  readonly actions: readonly ObjectAction[];
}

export interface ServiceFunctionProps {
  /** Directory under functions/ holding handler.ts (which exports `handler`). */
  readonly entryName: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: RetentionDays;
  /** Removal policy of the function's log group. */
  readonly logRemovalPolicy: RemovalPolicy;
  /** Variables set besides the ones the construct and the bind methods set. */
  readonly environment?: Readonly<Record<string, string>>;
  readonly reservedConcurrentExecutions?: number;
  /** Asynchronous invocation: where events go after the last retry, how often and how long to retry. */
  readonly onFailure?: IDestination;
  readonly retryAttempts?: number;
  readonly maxEventAge?: Duration;
}

/** Settings every function of a stack shares. */
export type FunctionDefaults = Pick<
  ServiceFunctionProps,
  "logRetention" | "logRemovalPolicy" | "environment"
>;

/**
 * esbuild emits ESM; a CommonJS dependency inside it may still call `require` for Node built-ins, which
 * ESM does not define. The banner gives the bundle a `require` bound to its own location.
 */
export const ESM_REQUIRE_BANNER =
  'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);';

/**
 * Packages of @stdlib (the special functions behind the served value model) whose entry tests at load whether
 * the runtime has a built-in and exports either it or a polyfill, each mapped to the package's own module
 * that exports the built-in. Node.js has them all, so the entry always picks that module; the polyfills
 * (utils-define-property's carries a printf-style formatter, 6 KB minified) and the support checks are never
 * run, and bundling the built-in's module leaves them out. test/unit/bundle-aliases.test.ts checks that each
 * pair loads the same value on the runtime.
 */
export const BUILTIN_ALIASES = {
  "@stdlib/utils-define-property": "@stdlib/utils-define-property/lib/builtin.js",
  "@stdlib/array-float64": "@stdlib/array-float64/lib/main.js",
  "@stdlib/array-uint8": "@stdlib/array-uint8/lib/main.js",
  "@stdlib/array-uint16": "@stdlib/array-uint16/lib/main.js",
  "@stdlib/array-uint32": "@stdlib/array-uint32/lib/main.js",
} as const;

/**
 * The esbuild settings of every function's bundle, in esbuild's own terms: the construct's `bundling` below
 * passes exactly these, and scripts/bench/lookups.ts builds with them to measure what the stack deploys.
 *
 * - `legalComments: "external"`: the licence headers of the bundled packages go to `index.mjs.LEGAL.txt`
 *   beside the bundle, in the same asset, instead of its end. The special functions behind the served value
 *   model (@stdlib, Apache-2.0) carry one per file, 42 KB of the lookup function's bundle that Lambda would
 *   read and parse at every cold start.
 * - `external: ["*\/_vendor/xml"]`: aws-lite's vendored XML parser (26 KB) stays out. aws-lite requires it
 *   only when a response is XML, which DynamoDB, the only service the lookup function calls, never sends
 *   (its protocol is JSON); a response without a content type that looks like XML falls back to its text.
 *   No other function bundles aws-lite.
 * - `alias` (BUILTIN_ALIASES): @stdlib packages that choose at load between a built-in and a polyfill of it
 *   resolve to their own module that exports the built-in, the choice Node.js always makes.
 */
export const BUNDLE_OPTIONS = {
  format: "esm",
  target: "node22",
  mainFields: ["module", "main"],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  banner: ESM_REQUIRE_BANNER,
  legalComments: "external",
  external: ["*/_vendor/xml"],
  alias: BUILTIN_ALIASES,
} as const;

/**
 * How cdk-nag prints an ARN in a finding: `<LogicalId.Arn>` for a GetAtt of a resource in the stack,
 * `<AWS::Partition>` for a reference, the literal text otherwise, joined as the template joins them. Used to
 * acknowledge exactly one resource pattern rather than every wildcard.
 */
function nagArn(arn: string, scope: Construct): string {
  const flatten = (node: unknown): string => {
    if (typeof node === "string") return node;
    const n = node as { "Fn::GetAtt"?: [string, string]; Ref?: string; "Fn::Join"?: [string, unknown[]] };
    if (n["Fn::GetAtt"]) return `<${n["Fn::GetAtt"][0]}.${n["Fn::GetAtt"][1]}>`;
    if (typeof n.Ref === "string") return `<${n.Ref}>`;
    if (n["Fn::Join"]) return n["Fn::Join"][1].map(flatten).join(n["Fn::Join"][0]);
    throw new Error(`${scope.node.path}: cannot name ${JSON.stringify(node)} for a cdk-nag acknowledgement`);
  };
  return flatten(Stack.of(scope).resolve(arn));
}

/** The ARN of the secrets named `name` (which may end in `*`) in the stack's account and region. */
export function secretArn(scope: Construct, name: string): string {
  return Stack.of(scope).formatArn({
    service: "secretsmanager",
    resource: "secret",
    resourceName: name,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * Functions whose handler runs the engine with its helper threads (parallel read, k-means fits, the value
 * stage): their asset also holds each worker module's own bundle (scripts/engine-workers.mjs), which the
 * helpers start rather than the whole function (shared/engine/threads.ts WORKER_BUNDLES).
 */
export const ENGINE_FUNCTIONS: ReadonlySet<string> = new Set(["compute", "refresh", "shard"]);

/** The runtime of every function; the one the code is built (esbuild target) and tested for. */
export const RUNTIME = Runtime.NODEJS_22_X;

export class ServiceFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: LogGroup;
  /** The function's own role: no managed policies, only the grants of this construct. */
  readonly role: Role;
  private readonly env = new Map<string, string>();

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, "LogGroup", {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });

    // Lambda's default role carries AWSLambdaBasicExecutionRole, which may write to any log group of the
    // account; this role may write to the function's own group only.
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Runs ${this.node.path}`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new NodejsFunction(this, "Function", {
      entry: `${PROJECT_ROOT}functions/${props.entryName}/handler.ts`,
      handler: "handler",
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      description: props.description,
      runtime: RUNTIME,
      role: this.role,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      onFailure: props.onFailure,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      bundling: {
        format: OutputFormat.ESM,
        target: BUNDLE_OPTIONS.target,
        mainFields: [...BUNDLE_OPTIONS.mainFields],
        minify: BUNDLE_OPTIONS.minify,
        sourceMap: BUNDLE_OPTIONS.sourcemap,
        sourcesContent: BUNDLE_OPTIONS.sourcesContent,
        // Bundle the SDK the code was tested with (lib-dynamodb, presigned POST) rather than the runtime's copy.
        bundleAwsSDK: true,
        // With bundleAwsSDK nothing else would be external; these are all.
        externalModules: [...BUNDLE_OPTIONS.external],
        esbuildArgs: {
          "--legal-comments": BUNDLE_OPTIONS.legalComments,
          "--alias": Object.entries(BUNDLE_OPTIONS.alias).map(([name, to]) => `${name}=${to}`),
        },
        banner: BUNDLE_OPTIONS.banner,
        // Local esbuild only: synth must work offline and without Docker.
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
        ...(ENGINE_FUNCTIONS.has(props.entryName)
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_inputDir: string, outputDir: string) => [
                  `node ${JSON.stringify(`${PROJECT_ROOT}scripts/engine-workers.mjs`)} ${JSON.stringify(outputDir)}`,
                ],
              },
            }
          : {}),
      },
    });

    this.setEnvironment("NODE_OPTIONS", "--enable-source-maps");
    for (const [name, value] of Object.entries(props.environment ?? {})) this.setEnvironment(name, value);

    const runtimeReason =
      `${RUNTIME.name} is the runtime the code is built (esbuild target node22) and tested for; Lambda ` +
      "supports it until 30 April 2027. Moving to a newer Node.js is a deliberate upgrade with its own test run.";
    NagSuppressions.addResourceSuppressions(this.fn, [
      { id: "AwsSolutions-L1", reason: runtimeReason },
      { id: "Serverless-LambdaLatestVersion", reason: runtimeReason },
    ]);
    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: "AwsSolutions-IAM5",
          reason:
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no " +
            "resource-level permissions; every other statement of the role names its resource.",
          appliesTo: ["Resource::*"],
        },
      ],
      true,
    );
  }

  /**
   * Adds an environment variable. Setting a name twice to the same value is harmless; to a different value
   * it is a wiring mistake (two tables bound under one name, say) and stops synthesis.
   */
  setEnvironment(name: string, value: string): this {
    const existing = this.env.get(name);
    if (existing !== undefined && existing !== value) {
      throw new Error(`${this.node.path}: environment variable ${name} is already set to a different value`);
    }
    if (existing === undefined) {
      this.env.set(name, value);
      this.fn.addEnvironment(name, value);
    }
    return this;
  }

  /** The environment the function will see (variables set through this construct). */
  get environment(): Readonly<Record<string, string>> {
    return Object.fromEntries(this.env);
  }

  /** Grants exactly `actions` on the table (no indexes: the table has none) and sets `envName`. */
  bindTable(table: ITable, actions: readonly TableAction[], envName = "TABLE_NAME"): this {
    if (actions.length === 0) throw new Error(`${this.node.path}: bindTable needs at least one action`);
    this.fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...new Set(actions)].map((a) => `dynamodb:${a}`),
        resources: [table.tableArn],
      }),
    );
    return this.setEnvironment(envName, table.tableName);
  }

  /** Grants each prefix its object actions, on that prefix's keys only, and sets `envName`. */
  bindBucket(bucket: IBucket, access: readonly PrefixAccess[], envName = "BUCKET_NAME"): this {
    if (access.length === 0) throw new Error(`${this.node.path}: bindBucket needs at least one prefix`);
    for (const { prefix, actions } of access) {
      if (!/^[^*?/][^*?]*\/$/.test(prefix)) {
        throw new Error(
          `${this.node.path}: prefix "${prefix}" must be non-empty, not start but end with "/", and hold no wildcard`,
        );
      }
      if (actions.length === 0)
        throw new Error(`${this.node.path}: prefix "${prefix}" needs at least one action`);
      this.fn.addToRolePolicy(
        new PolicyStatement({
          actions: [...new Set(actions)].map((a) => `s3:${a}`),
          resources: [bucket.arnForObjects(`${prefix}*`)],
        }),
      );
      NagSuppressions.addResourceSuppressions(
        this.role,
        [
          {
            id: "AwsSolutions-IAM5",
            reason:
              `Objects under ${prefix} are created at run time with keys not known at deploy time; the ` +
              `grant is limited to that one prefix of one bucket and to ${actions.join(", ")}.`,
            appliesTo: [`Resource::${nagArn(bucket.bucketArn, this)}/${prefix}*`],
          },
        ],
        true,
      );
    }
    return this.setEnvironment(envName, bucket.bucketName);
  }

  /**
   * Lets the function list the keys under each of `prefixes` (ListBucket on the bucket, conditioned on the
   * listing's prefix), and sets `envName`.
   */
  bindBucketListing(bucket: IBucket, prefixes: readonly string[], envName = "BUCKET_NAME"): this {
    if (prefixes.length === 0) throw new Error(`${this.node.path}: bindBucketListing needs a prefix`);
    for (const prefix of prefixes) {
      if (!/^[^*?/][^*?]*\/$/.test(prefix)) {
        throw new Error(
          `${this.node.path}: prefix "${prefix}" must be non-empty, not start but end with "/", and hold no wildcard`,
        );
      }
    }
    this.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:ListBucket"],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { "s3:prefix": prefixes.map((p) => `${p}*`) } },
      }),
    );
    return this.setEnvironment(envName, bucket.bucketName);
  }

  /** Lets the function put events on `bus` (and nothing else on EventBridge), and sets `envName`. */
  bindEventBus(bus: IEventBus, envName = "EVENT_BUS_NAME"): this {
    this.fn.addToRolePolicy(
      new PolicyStatement({ actions: ["events:PutEvents"], resources: [bus.eventBusArn] }),
    );
    return this.setEnvironment(envName, bus.eventBusName);
  }

  /** Lets the function start executions of a state machine, whose ARN it finds in `envName`. */
  bindStateMachine(stateMachine: IStateMachine, envName = "STATE_MACHINE_ARN"): this {
    this.fn.addToRolePolicy(
      new PolicyStatement({ actions: ["states:StartExecution"], resources: [stateMachine.stateMachineArn] }),
    );
    return this.setEnvironment(envName, stateMachine.stateMachineArn);
  }

  /**
   * Lets the function send messages to `queue` (SendMessage, the one action a producer needs: the queue's
   * URL comes from `envName`, and its SQS-managed encryption needs no key grant), and sets `envName`.
   */
  bindQueueSender(queue: IQueue, envName: string): this {
    this.fn.addToRolePolicy(
      new PolicyStatement({ actions: ["sqs:SendMessage"], resources: [queue.queueArn] }),
    );
    return this.setEnvironment(envName, queue.queueUrl);
  }

  /**
   * Grants `actions` on the secrets whose names start with `prefix` (their ARNs end in a random suffix
   * Secrets Manager adds, so the grant names `secret:<prefix>*`), and sets `envName` to the prefix. Secrets
   * are encrypted with the account's AWS managed key for Secrets Manager, which needs no KMS grant.
   */
  bindSecrets(prefix: string, actions: readonly SecretAction[], envName = "WEBHOOK_SECRET_PREFIX"): this {
    if (!SECRET_PREFIX.test(prefix)) {
      throw new Error(
        `${this.node.path}: secret prefix "${prefix}" must use Secrets Manager's name characters, end with "/" and hold no wildcard`,
      );
    }
    if (actions.length === 0) throw new Error(`${this.node.path}: bindSecrets needs at least one action`);
    const resource = secretArn(this, `${prefix}*`);
    this.fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...new Set(actions)].map((a) => `secretsmanager:${a}`),
        resources: [resource],
      }),
    );
    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: "AwsSolutions-IAM5",
          reason:
            `Webhook secrets are created at run time, one per destination, under the name prefix ${prefix}; ` +
            `Secrets Manager appends a random suffix to each ARN. The grant covers that prefix only, for ${actions.join(", ")}.`,
          appliesTo: [`Resource::${nagArn(resource, this)}`],
        },
      ],
      true,
    );
    return this.setEnvironment(envName, prefix);
  }

  /**
   * Lets the function write objects (PutObject, and PutObjectAcl for a bucket owned by another account) to
   * each of `buckets`, buckets outside the stack named by the deployment, and sets `envName` to the names
   * separated by commas, or to "" when there are none (the API then refuses destinations that write files).
   */
  bindExternalBuckets(buckets: readonly string[], envName = "DESTINATION_BUCKETS"): this {
    const names = [...new Set(buckets)];
    for (const name of names) {
      if (!BUCKET_NAME.test(name)) throw new Error(`${this.node.path}: "${name}" is not an S3 bucket name`);
      const resource = `arn:${Aws.PARTITION}:s3:::${name}/*`;
      this.fn.addToRolePolicy(
        new PolicyStatement({ actions: ["s3:PutObject", "s3:PutObjectAcl"], resources: [resource] }),
      );
      NagSuppressions.addResourceSuppressions(
        this.role,
        [
          {
            id: "AwsSolutions-IAM5",
            reason:
              `Destination files go to keys chosen at run time (prefix, dataset, run) in ${name}, a bucket the ` +
              "deployment names in destinationBuckets; the grant covers that bucket's objects, for PutObject and PutObjectAcl only.",
            appliesTo: [`Resource::${nagArn(resource, this)}`],
          },
        ],
        true,
      );
    }
    return this.setEnvironment(envName, names.join(","));
  }

  /** Logical id of the function in its stack's template, for tests and cross-references. */
  get logicalId(): string {
    return Stack.of(this).getLogicalId(this.fn.node.defaultChild as CfnElement);
  }
}
