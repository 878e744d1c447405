/**
 * The HTTP shell shared by every API function: finds the route of an API Gateway (HTTP API, payload 2.0)
 * event in the route table, parses path, query and JSON body, runs the route's core function, and maps
 * every error to `{ error: { code, message, details } }`. Before anything of the request is read, the
 * caller must hold the route's scope (./auth.ts), which also fixes the tenant the core acts for. Core
 * functions are plain async functions that take a parsed request and return a status and body; they know
 * nothing of Lambda or middy.
 */
import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from "aws-lambda";
import { AppError, BadRequestError, NotFoundError, PayloadTooLargeError, ValidationError } from "../errors";
import { errorFields, logger } from "../logger";
import { type HttpFunctionName, ROUTES, type RouteDef, type RouteId, routeKey, type Scope } from "../routes";
import { type AuthOptions, authorize } from "./auth";
import { reservedKeys, unstorableNumbers } from "./validation";

/** Largest JSON body a route accepts; files never pass through the API. */
export const MAX_BODY_BYTES = 256 * 1024;

export interface ApiRequest {
  routeId: RouteId;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  tenantId: string;
  requestId: string;
}

export interface ApiResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type RouteHandler = (req: ApiRequest) => Promise<ApiResult>;

/** The body of a request sent as `text/csv` to a route that takes CSV (RouteDef.body.csv). */
export class CsvBody {
  constructor(readonly text: string) {}
}

interface BodyOptions {
  maxBytes: number;
  csv: boolean;
}

export type ApiOptions = AuthOptions;

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

function respond(result: ApiResult): APIGatewayProxyResultV2 {
  return {
    statusCode: result.status,
    headers: { ...JSON_HEADERS, ...result.headers },
    body: result.body === undefined ? "" : JSON.stringify(result.body),
  };
}

export function errorResult(error: unknown): ApiResult {
  if (error instanceof AppError) {
    return {
      status: error.status,
      body: { error: { code: error.code, message: error.message, details: error.details } },
    };
  }
  return {
    status: 500,
    body: { error: { code: "INTERNAL", message: "Internal error", details: [] } },
  };
}

function parseBody(
  event: APIGatewayProxyEventV2,
  options: BodyOptions = { maxBytes: MAX_BODY_BYTES, csv: false },
): unknown {
  if (event.body === undefined || event.body === null || event.body === "") return undefined;
  const raw = event.isBase64Encoded ? Buffer.from(event.body, "base64") : Buffer.from(event.body, "utf8");
  if (raw.byteLength > options.maxBytes) {
    throw new PayloadTooLargeError(`The request body is larger than ${options.maxBytes} bytes`);
  }
  const contentType = event.headers?.["content-type"] ?? event.headers?.["Content-Type"];
  if (options.csv && contentType !== undefined && /^text\/csv\b/i.test(contentType)) {
    return new CsvBody(raw.toString("utf8"));
  }
  if (contentType !== undefined && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    const expected = options.csv ? "application/json or text/csv" : "application/json";
    throw new BadRequestError("UNSUPPORTED_MEDIA_TYPE", `The request body must be ${expected}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    const position = error instanceof SyntaxError ? / position (\d+)/.exec(error.message)?.[1] : undefined;
    throw new BadRequestError("BAD_JSON", "The request body is not valid JSON", [
      {
        path: "body",
        code: "BAD_JSON",
        message: position ? `Syntax error at position ${position}` : "Syntax error",
      },
    ]);
  }
  // Bodies end up in table items: a number DynamoDB cannot hold is bad input, not a failure to store it.
  const unstorable = unstorableNumbers(parsed, "body");
  if (unstorable.length > 0) {
    throw new ValidationError("The request body holds numbers out of the supported range", unstorable);
  }
  // One rule for every route: no object of a body has a key such as "__proto__" or "constructor".
  const reserved = reservedKeys(parsed, "body");
  if (reserved.length > 0) {
    throw new ValidationError("The request body uses a reserved name as a key", reserved);
  }
  return parsed;
}

/**
 * Whether the shell parses a route's body. GET and DELETE carry no content with a meaning (RFC 9110), nor does
 * a POST marked `noBody` (an action such as rotate-secret): a body sent with one is ignored rather than
 * parsed, so it cannot fail a request with a code the route does not have.
 */
export function takesBody(route: Pick<RouteDef, "method" | "noBody">): boolean {
  return (route.method === "POST" || route.method === "PUT") && route.noBody !== true;
}

/**
 * Builds the Lambda handler of one API function: it serves exactly the routes the table assigns to `fn`, and
 * the handler map must cover each of them (checked at cold start).
 */
export function apiHandler(
  fn: HttpFunctionName,
  handlers: Partial<Record<RouteId, RouteHandler>>,
  options: ApiOptions,
) {
  const byKey = new Map<
    string,
    { id: RouteId; scope: Scope | null; takesBody: boolean; body: BodyOptions; handle: RouteHandler }
  >();
  for (const route of ROUTES) {
    if (route.fn !== fn) continue;
    const handle = handlers[route.id];
    if (!handle) throw new Error(`Function ${fn} has no handler for route ${route.id}`);
    const custom = (route as RouteDef).body;
    const body = { maxBytes: custom?.maxBytes ?? MAX_BODY_BYTES, csv: custom?.csv === true };
    byKey.set(routeKey(route), {
      id: route.id,
      scope: route.scope,
      takesBody: takesBody(route),
      body,
      handle,
    });
  }

  const core = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> => {
    const requestId = event.requestContext?.requestId ?? "local";
    const route = byKey.get(event.routeKey);
    try {
      if (!route) throw new NotFoundError("ROUTE_NOT_FOUND", "No such route");
      const { tenantId } = authorize(route, event, options);
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.pathParameters ?? {})) if (v !== undefined) params[k] = v;
      const query: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.queryStringParameters ?? {}))
        if (v !== undefined) query[k] = v;
      const result = await route.handle({
        routeId: route.id,
        params,
        query,
        body: route.takesBody ? parseBody(event, route.body) : undefined,
        tenantId,
        requestId,
      });
      return respond(result);
    } catch (error) {
      const result = errorResult(error);
      if (result.status >= 500) {
        logger.error("Request failed", { route: route?.id, requestId, ...errorFields(error) });
      } else {
        const code = (result.body as { error?: { code?: string } } | undefined)?.error?.code;
        logger.info("Request rejected", { route: route?.id, requestId, status: result.status, code });
      }
      return respond(result);
    }
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>().handler(core);
}
