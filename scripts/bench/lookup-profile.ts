/**
 * Where a warm lookup's time goes (`npm run bench:lookups -- --only profile`). Two views of the same call:
 *
 * - Stages on the CPU, no I/O: each step of the handler timed alone over many iterations on the benchmark's
 *   items (the HTTP shell with middy, the scope and tenant checks, the path parameters, reading the stored
 *   version and view, the answer, its JSON), then aws-lite's own work per request (signing with aws4,
 *   DynamoDB JSON to plain values) and the whole handler over an in-memory store. Microseconds per call.
 * - Calls against DynamoDB Local, interleaved: wall p50/p99 and this process's CPU per call
 *   (`process.cpuUsage`, user + system) of the lookup handler, the reads it could make (the transaction it
 *   makes, each GetItem alone) and the AWS SDK's GetItem that the target is measured against. The handler's
 *   CPU minus its read's CPU is its own work; wall minus CPU is waiting for DynamoDB Local.
 */
import { createRequire } from "node:module";
import awsLite from "@aws-lite/client";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { customerAnswer } from "../../shared/api/customer-answer";
import { type LookupStore, lookupRoutes, parseCurrent, parseView } from "../../shared/api/lookup";
import { customerParams, run } from "../../shared/api/lookup-checks";
import { apiHandler } from "../../shared/http/api";
import { authorize } from "../../shared/http/auth";
import { servedViewOf } from "../../shared/pipeline/served-view";
import { lookupPlugin, META_REF_PROJECTION } from "../../shared/store/lookup";
import { DYNAMODB_LOCAL_CREDENTIALS } from "../emulators/dynamodb-local";

type Item = Record<string, unknown>;

/** aws4, the signer aws-lite depends on (it ships no types). */
const aws4 = createRequire(createRequire(import.meta.url).resolve("@aws-lite/client"))("aws4") as {
  sign(request: object, credentials: { accessKeyId: string; secretAccessKey: string }): object;
};
type Handler = (event: unknown, context: unknown) => Promise<{ statusCode: number; body?: string }>;

export interface ProfileInput {
  endpoint: string;
  tableName: string;
  tenant: string;
  dataset: string;
  customerId: string;
  metaKey: Item;
  customerKey: Item;
  meta: Item;
  customer: Item;
  event: APIGatewayProxyEventV2;
  /** The deployed handler (the lookup bundle), configured for `tableName`. */
  handler: Handler;
  calls: number;
  say: (line?: string) => void;
  table: (head: string[], rows: string[][]) => string;
}

const us = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} µs`;
const msOf = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} ms`;

/** Microseconds per call of `fn`, the best of five rounds of `n` calls (after one round to warm up). */
async function perCall(n: number, fn: () => unknown): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 6; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const r = fn();
      if (r instanceof Promise) await r;
    }
    const t = Number(process.hrtime.bigint() - t0) / 1000 / n;
    if (round > 0) best = Math.min(best, t);
  }
  return best;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

export async function profileLookup(input: ProfileInput): Promise<Record<string, unknown>> {
  const { say, table } = input;
  const figures: Record<string, unknown> = {};

  // ---- stages on the CPU ----
  const options = { defaultTenant: "demo", scopePrefix: "segmentation", requireTenantClaim: false };
  const memory: LookupStore = {
    getDatasetItem: async () => input.meta,
    getCustomerItems: async () => ({ meta: input.meta, view: input.customer.view }),
  };
  const routes = lookupRoutes({ store: memory });
  const getCustomer = routes.getCustomer;
  if (!getCustomer) throw new Error("the lookup routes have no getCustomer");
  const fixed = { status: 200, body: { ok: true } };
  const shellOnly = apiHandler(
    "lookupApi",
    { getCustomer: async () => fixed },
    options,
  ) as unknown as Handler;
  const inMemory = apiHandler("lookupApi", routes, options) as unknown as Handler;
  const req = {
    routeId: "getCustomer" as const,
    params: { datasetId: input.dataset, customerId: input.customerId },
    query: {},
    body: undefined,
    tenantId: input.tenant,
    requestId: "profile",
  };
  const current = parseCurrent(input.meta, input.dataset);
  const stored = parseView(input.customer.view);
  const view = servedViewOf(stored, current.served, current.asOf);
  const answer = customerAnswer(input.dataset, input.customerId, current, view);

  // aws-lite's per-request work: aws4 signs every request; responses arrive as DynamoDB JSON.
  const metaJson = marshall(input.meta, { removeUndefinedValues: true });
  const customerJson = marshall(input.customer, { removeUndefinedValues: true });
  const responseBody = JSON.stringify({ Responses: [{ Item: metaJson }, { Item: customerJson }] });
  const getItemBody = JSON.stringify({ Item: customerJson });
  const requestBody = JSON.stringify({
    TransactItems: [
      { Get: { TableName: input.tableName, Key: marshall(input.metaKey) } },
      { Get: { TableName: input.tableName, Key: marshall(input.customerKey) } },
    ],
  });
  const url = new URL(input.endpoint);
  const signing = () =>
    aws4.sign(
      {
        service: "dynamodb",
        region: "us-east-1",
        method: "POST",
        host: url.host,
        path: "/",
        headers: {
          "content-type": "application/x-amz-json-1.0",
          "X-Amz-Target": "DynamoDB_20120810.TransactGetItems",
        },
        body: requestBody,
      },
      DYNAMODB_LOCAL_CREDENTIALS,
    );
  const utils = await pluginUtils();

  const n = 20_000;
  const stages: Array<[string, number]> = [
    [
      "HTTP shell: middy, route, checks, params, JSON of a tiny body",
      await perCall(n, () => shellOnly(input.event, {})),
    ],
    [
      "  scope and tenant checks (authorize)",
      await perCall(n, () => authorize({ scope: "read" }, input.event, options)),
    ],
    ["path parameters (lookup-checks)", await perCall(n, () => run(customerParams, req.params))],
    [
      "stored version: the whole META item's `current` (a new version only)",
      await perCall(n, () => parseCurrent(input.meta, input.dataset)),
    ],
    ["stored view: the customer's `view`", await perCall(n, () => parseView(input.customer.view))],
    [
      "predictions at asOf from the served model (servedViewOf)",
      await perCall(n, () => servedViewOf(stored, current.served, current.asOf)),
    ],
    [
      "the answer (customerAnswer)",
      await perCall(n, () => customerAnswer(input.dataset, input.customerId, current, view)),
    ],
    ["JSON of the answer", await perCall(n, () => JSON.stringify(answer))],
    [
      "route core over an in-memory store (all of the above but the shell)",
      await perCall(n, () => getCustomer(req)),
    ],
    ["whole handler over an in-memory store (no client)", await perCall(n, () => inMemory(input.event, {}))],
    ["aws-lite: sign the request (aws4)", await perCall(n, signing)],
    [
      `aws-lite: response JSON.parse + DynamoDB JSON → values, transaction (${responseBody.length} B)`,
      await perCall(n / 4, () => utils.unmarshallResponse(responseBody)),
    ],
    [
      `aws-lite: the same, GetItem of the customer (${getItemBody.length} B)`,
      await perCall(n, () => utils.unmarshallResponse(getItemBody)),
    ],
  ];
  say();
  say("Where a warm lookup's CPU goes, no I/O (µs per call, best of 5 rounds)");
  say(
    table(
      ["stage", "per call"],
      stages.map(([name, t]) => [name, us(t)]),
    ),
  );
  figures.stagesMicros = Object.fromEntries(stages);

  // ---- calls against DynamoDB Local ----
  const lite = await awsLite({
    region: "us-east-1",
    plugins: [lookupPlugin],
    retries: 2,
    protocol: url.protocol.replace(":", ""),
    host: url.hostname,
    port: Number(url.port),
  });
  const sdk = new DynamoDBClient({
    endpoint: input.endpoint,
    region: "us-east-1",
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
    maxAttempts: 3,
  });
  const sdkKey = marshall(input.customerKey);
  const T = input.tableName;
  const series: Record<string, () => Promise<unknown>> = {
    "lookup handler": async () => {
      const res = await input.handler(input.event, {});
      if (res.statusCode !== 200) throw new Error(`lookup answered ${res.statusCode}`);
    },
    "aws-lite TransactGetItems, META + customer": () =>
      lite.SegmentationLookup.TransactGetItems({
        TransactItems: [
          { Get: { TableName: T, Key: input.metaKey } },
          { Get: { TableName: T, Key: input.customerKey } },
        ],
      }),
    "aws-lite TransactGetItems, META's reference + customer": () =>
      lite.SegmentationLookup.TransactGetItems({
        TransactItems: [
          { Get: { TableName: T, Key: input.metaKey, ...META_REF_PROJECTION } },
          { Get: { TableName: T, Key: input.customerKey } },
        ],
      }),
    "aws-lite GetItem, customer": () =>
      lite.SegmentationLookup.GetItem({ TableName: T, Key: input.customerKey }),
    "aws-lite GetItem, META (consistent)": () =>
      lite.SegmentationLookup.GetItem({ TableName: T, Key: input.metaKey, ConsistentRead: true }),
    "AWS SDK GetItem, customer (the target's floor)": () =>
      sdk.send(new GetItemCommand({ TableName: T, Key: sdkKey })),
  };
  const names = Object.keys(series);
  const wall: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  const cpu: Record<string, number> = Object.fromEntries(names.map((k) => [k, 0]));
  const warmup = Math.min(200, input.calls);
  for (let i = 0; i < warmup + input.calls; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length] as string;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await (series[name] as () => Promise<unknown>)();
      const t = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i >= warmup) {
        wall[name]?.push(t);
        cpu[name] = (cpu[name] ?? 0) + (c.user + c.system) / 1000;
      }
    }
  }
  const live = names.map((name) => {
    const sorted = [...(wall[name] as number[])].sort((a, b) => a - b);
    return {
      name,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      cpu: (cpu[name] ?? 0) / input.calls,
    };
  });
  say();
  say(`Calls against DynamoDB Local (${input.calls} each, interleaved, after ${warmup} warm-up calls)`);
  say(
    table(
      ["call", "p50", "p99", "CPU of this process per call"],
      live.map((r) => [r.name, msOf(r.p50), msOf(r.p99), msOf(r.cpu)]),
    ),
  );
  const handler = live.find((r) => r.name === "lookup handler");
  const read = live.find((r) => r.name.startsWith("aws-lite TransactGetItems, META's reference"));
  const floor = live.find((r) => r.name.startsWith("AWS SDK GetItem"));
  if (handler && read && floor) {
    say(
      `  the handler's own CPU per call beyond the read it makes (META's reference): ${msOf(handler.cpu - read.cpu)}`,
    );
    say(
      `  handler / AWS SDK GetItem: p50 ${(handler.p50 / floor.p50).toFixed(2)}×, p99 ${(handler.p99 / floor.p99).toFixed(2)}×`,
    );
  }
  figures.live = live;
  sdk.destroy();
  return figures;
}

/** aws-lite's response handling of a DynamoDB answer: JSON.parse, then its DynamoDB JSON conversion. */
async function pluginUtils(): Promise<{ unmarshallResponse: (body: string) => unknown }> {
  let captured: ((value: unknown) => unknown) | undefined;
  const probe = {
    name: "profile-probe",
    service: "dynamodb",
    property: "ProfileProbe",
    methods: {
      Probe: {
        request: async (_: unknown, utils: { awsjsonUnmarshall: (value: unknown) => unknown }) => {
          captured = utils.awsjsonUnmarshall;
          throw new Error("probe only");
        },
      },
    },
  };
  const client = (await awsLite({
    region: "us-east-1",
    plugins: [probe],
    accessKeyId: "x",
    secretAccessKey: "x",
  } as never)) as unknown as { ProfileProbe: { Probe: (input: object) => Promise<unknown> } };
  await client.ProfileProbe.Probe({}).catch(() => undefined);
  const unmarshall = captured;
  if (!unmarshall) throw new Error("aws-lite did not hand its utilities to the plugin");
  return {
    unmarshallResponse: (body) => {
      const payload = JSON.parse(body) as { Responses?: Array<{ Item?: unknown }>; Item?: unknown };
      if (payload.Item) return unmarshall(payload.Item);
      return (payload.Responses ?? []).map((r) => (r.Item ? unmarshall(r.Item) : undefined));
    },
  };
}
