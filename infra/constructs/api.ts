/**
 * The HTTPS API: an API Gateway HTTP API whose routes come from the route table in shared/routes (the same
 * table the local server dispatches with), one Lambda function per HTTP function named there. Callers are
 * authorized per route from the scope the table gives it; the authorizer itself is passed in (see
 * ./auth.ts), so the route wiring does not depend on where tokens come from.
 */
import { Duration } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { LogGroup } from "aws-cdk-lib/aws-logs";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { FUNCTION_TIMEOUT_SECONDS, PREFIXES } from "../../shared/resources";
import {
  HTTP_FUNCTIONS,
  type HttpFunctionName,
  ROUTES,
  type RouteDef,
  routeKey,
  type Scope,
} from "../../shared/routes";
import {
  type FunctionDefaults,
  type PrefixAccess,
  ServiceFunction,
  type TableAction,
} from "./service-function";

/** How one protected route checks its callers. */
export interface RouteAuthorization {
  readonly authorizer: IHttpRouteAuthorizer;
  /** Scopes the token must carry (the JWT authorizer cannot tell ID from access tokens without them). */
  readonly authorizationScopes?: readonly string[];
}

/** Maps a route's scope to its authorization; called only for routes whose scope is not null. */
export type RouteAuthorizer = (scope: Scope, route: RouteDef) => RouteAuthorization;

/** The subset of HttpRoute props that authorization sets. */
export interface RouteAuthOptions {
  readonly authorizer?: IHttpRouteAuthorizer;
  readonly authorizationScopes?: string[];
}

export interface ApiProps {
  readonly table: ITable;
  readonly bucket: IBucket;
  /** writeApi asks for recomputes on it when settings or rule segments change. */
  readonly bus: IEventBus;
  readonly functionDefaults: FunctionDefaults;
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly corsOrigins: readonly string[];
  /** Without it every route is public; with it every route with a scope is protected. */
  readonly authorize?: RouteAuthorizer;
}

interface HttpFunctionSpec {
  readonly entryName: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly table: readonly TableAction[];
  readonly bucket: readonly PrefixAccess[];
  /** Whether it puts events on the service's bus. */
  readonly putsEvents: boolean;
}

/**
 * One spec per name in HTTP_FUNCTIONS; the Record type makes a new HTTP function without a spec a type
 * error. Timeouts stay below the HTTP API's 30 s integration limit.
 */
const HTTP_FUNCTION_SPECS: Record<HttpFunctionName, HttpFunctionSpec> = {
  readApi: {
    entryName: "read-api",
    description: "Serves the read routes: datasets, customer lookup, segments, members, history, runs",
    memorySize: 1024,
    timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.readApi),
    // BatchGetItem: a customer's history checks that the versions of its entries committed (store/history.ts).
    table: ["GetItem", "BatchGetItem", "Query"],
    // Signs downloads of member exports and of rejected-rows reports; reads the committed version's
    // membership object under state/ for overlaps (and HEADs it, which GetObject allows) and its member
    // pages for the members route (ranged GETs). Never uploads.
    bucket: [
      { prefix: PREFIXES.exports, actions: ["GetObject"] },
      { prefix: PREFIXES.reports, actions: ["GetObject"] },
      { prefix: PREFIXES.state, actions: ["GetObject"] },
      // A list's answer shows its first ids.
      { prefix: PREFIXES.lists, actions: ["GetObject"] },
    ],
    putsEvents: false,
  },
  writeApi: {
    entryName: "write-api",
    description: "Serves the write routes: datasets, settings, rule segments, presigned uploads",
    // Dry runs hold a version's state and trait snapshot: some 600 MB at a million customers (BENCHMARKS.md,
    // "Dry runs"); 2048 MB also gives about 1.2 vCPU to load them.
    memorySize: 2048,
    timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.writeApi),
    // Datasets and uploads are put, settings updated, rule segments put, listed and deleted.
    table: ["PutItem", "GetItem", "UpdateItem", "Query", "DeleteItem"],
    // A presigned POST carries the signer's permissions: PutObject under uploads/ and nowhere else.
    bucket: [
      { prefix: PREFIXES.uploads, actions: ["PutObject"] },
      // Dry runs evaluate rule segments on the committed aggregate state; exports read the committed view.
      { prefix: PREFIXES.state, actions: ["GetObject"] },
      // Exports are written here, and their download links are signed with GetObject.
      { prefix: PREFIXES.exports, actions: ["PutObject", "GetObject"] },
      // List segments: each change writes the new revision's ids and deletes the old one's.
      { prefix: PREFIXES.lists, actions: ["PutObject", "GetObject", "DeleteObject"] },
    ],
    putsEvents: true,
  },
  lookupApi: {
    entryName: "lookup-api",
    description: "Serves the lookup route: one customer",
    // Lambda gives CPU in proportion to memory; a cold start parses and runs the bundle at that share.
    memorySize: 1024,
    timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.lookupApi),
    // A customer is read in one TransactGetItems (checked as GetItem per item). No bucket access at all:
    // member pages are in S3 and served by readApi.
    table: ["GetItem"],
    bucket: [],
    putsEvents: false,
  },
};

/** Construct id of an HTTP function, e.g. "readApi" -> "ReadApi". */
export const httpFunctionId = (name: HttpFunctionName): string =>
  name.charAt(0).toUpperCase() + name.slice(1);

/**
 * Access-log fields. The route key is logged rather than the path, because paths carry customer ids; the
 * caller's IP and user agent are left out as personal data.
 */
const ACCESS_LOG_FIELDS = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTimeEpoch",
  routeKey: "$context.routeKey",
  status: "$context.status",
  protocol: "$context.protocol",
  responseLength: "$context.responseLength",
  responseLatency: "$context.responseLatency",
  integrationLatency: "$context.integrationLatency",
  integrationStatus: "$context.integrationStatus",
  integrationError: "$context.integrationErrorMessage",
  error: "$context.error.message",
  authorizerError: "$context.authorizer.error",
} as const;

export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  readonly functions: Readonly<Record<HttpFunctionName, ServiceFunction>>;
  readonly routes: ReadonlyMap<string, HttpRoute>;
  private readonly authorize: RouteAuthorizer | undefined;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.authorize = props.authorize;

    const functions = {} as Record<HttpFunctionName, ServiceFunction>;
    const integrations = {} as Record<HttpFunctionName, HttpLambdaIntegration>;
    for (const name of HTTP_FUNCTIONS) {
      const spec = HTTP_FUNCTION_SPECS[name];
      const fn = new ServiceFunction(this, httpFunctionId(name), {
        ...props.functionDefaults,
        entryName: spec.entryName,
        description: spec.description,
        memorySize: spec.memorySize,
        timeout: spec.timeout,
      }).bindTable(props.table, spec.table);
      if (spec.bucket.length > 0) fn.bindBucket(props.bucket, spec.bucket);
      if (spec.putsEvents) fn.bindEventBus(props.bus);
      NagSuppressions.addResourceSuppressions(fn.fn, [
        {
          id: "Serverless-LambdaDLQ",
          reason:
            "Invoked synchronously by API Gateway only: a failure is returned to the caller as a 5xx, and " +
            "Lambda never queues or retries the event, so a dead-letter queue would receive nothing.",
        },
      ]);
      functions[name] = fn;
      integrations[name] = new HttpLambdaIntegration(`${httpFunctionId(name)}Integration`, fn.fn, {
        payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
      });
    }
    this.functions = functions;

    this.httpApi = new HttpApi(this, "HttpApi", {
      description: "Customer segmentation service",
      // The default stage is created below with throttling and access logs, which HttpApi's own lacks.
      createDefaultStage: false,
      ...(props.corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...props.corsOrigins],
              allowMethods: [...new Set(ROUTES.map((r) => CorsHttpMethod[r.method])), CorsHttpMethod.OPTIONS],
              allowHeaders: ["authorization", "content-type"],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });

    this.accessLogs = new LogGroup(this, "AccessLogs", {
      retention: props.functionDefaults.logRetention,
      removalPolicy: props.functionDefaults.logRemovalPolicy,
    });
    this.stage = new HttpStage(this, "DefaultStage", {
      httpApi: this.httpApi,
      stageName: "$default",
      autoDeploy: true,
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    const routes = new Map<string, HttpRoute>();
    for (const route of ROUTES) {
      const httpRoute = new HttpRoute(this, `Route-${route.id}`, {
        httpApi: this.httpApi,
        routeKey: HttpRouteKey.with(route.path, HttpMethod[route.method]),
        integration: integrations[route.fn],
        ...this.routeOptions(route),
      });
      if (route.scope === null) {
        NagSuppressions.addResourceSuppressions(httpRoute, [
          {
            id: "AwsSolutions-APIG4",
            reason: `${routeKey(route)} is public by design in the route table (scope null): it serves no tenant data.`,
          },
        ]);
      }
      routes.set(route.id, httpRoute);
    }
    this.routes = routes;
  }

  /** Authorization of one route: none for public routes (scope null), else what `authorize` gives. */
  routeOptions(route: RouteDef): RouteAuthOptions {
    if (route.scope === null || this.authorize === undefined) return {};
    const auth = this.authorize(route.scope, route);
    return {
      authorizer: auth.authorizer,
      ...(auth.authorizationScopes ? { authorizationScopes: [...auth.authorizationScopes] } : {}),
    };
  }

  /** Base URL of the API's default stage. */
  get url(): string {
    return this.stage.url;
  }
}
