/**
 * Serves the route table over plain HTTP the way API Gateway's HTTP API does: each request becomes a payload
 * format 2.0 event (path decoded, parameters extracted, body base64-encoded when binary) handed to the Lambda
 * handler that serves the route in AWS, and the handler's result becomes the response.
 *
 * Like the stack's JWT authorizer, it refuses a request to a protected route (a route whose scope is not
 * null) without a valid token with 401 `{"message":"Unauthorized"}` before any handler runs, and passes the
 * verified claims on in `requestContext.authorizer.jwt`. Scopes and tenant are then checked by the handler
 * itself, as in AWS; there the gateway also answers a token without the route's scope with 403
 * `{"message":"Forbidden"}` first, here the handler's own 403 answers it. The issuer's public keys are at
 * GET /.well-known/jwks.json.
 *
 * With a `site`, it also serves the dashboard's static files and its config.json on GET/HEAD paths that no
 * route takes, as the site's own host does in AWS; every other path still answers 404 JSON.
 */
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { extname, join } from "node:path";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { FUNCTION_TIMEOUT_SECONDS, type FunctionName } from "../../shared/resources";
import { type HttpFunctionName, ROUTES, routeKey, type Scope } from "../../shared/routes";
import type { LocalAuthorizer, VerifiedJwt } from "./auth";

export type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;
export type HttpHandler = LambdaHandler<APIGatewayProxyEventV2, unknown>;

/** API Gateway's payload limit. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

interface CompiledRoute {
  key: string;
  method: string;
  segments: Array<{ literal: string } | { param: string }>;
  fn: HttpFunctionName;
  scope: Scope | null;
}

const compiled: CompiledRoute[] = ROUTES.map((route) => ({
  key: routeKey(route),
  method: route.method,
  fn: route.fn,
  scope: route.scope,
  segments: route.path
    .split("/")
    .slice(1)
    .map((s) => (s.startsWith("{") && s.endsWith("}") ? { param: s.slice(1, -1) } : { literal: s })),
}));

function match(
  method: string,
  path: string,
): { route: CompiledRoute; params: Record<string, string> } | undefined {
  const parts = path.split("/").slice(1);
  for (const route of compiled) {
    if (route.method !== method || route.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const segment = route.segments[i];
      const part = parts[i] ?? "";
      if (!segment) ok = false;
      else if ("literal" in segment) ok = segment.literal === part;
      else if (part === "") ok = false;
      else {
        try {
          params[segment.param] = decodeURIComponent(part);
        } catch {
          ok = false;
        }
      }
    }
    if (ok) return { route, params };
  }
  return undefined;
}

/** A Lambda context whose remaining time counts down from the function's timeout, as in Lambda. */
export function lambdaContext(functionName: FunctionName): Context {
  const requestId = randomUUID();
  const deadline = Date.now() + FUNCTION_TIMEOUT_SECONDS[functionName] * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: "1024",
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer | "too-large"> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) return "too-large";
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body);
}

export function toEvent(
  req: IncomingMessage,
  url: URL,
  key: string,
  params: Record<string, string>,
  body: Buffer,
  jwt?: VerifiedJwt,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = name in query ? `${query[name]},${value}` : value;
  const textual =
    body.length === 0 || /json|text|csv|xml|x-www-form-urlencoded/i.test(headers["content-type"] ?? "json");
  const now = new Date();
  let decodedPath = url.pathname;
  try {
    decodedPath = decodeURIComponent(url.pathname);
  } catch {
    // An undecodable path is passed on as it came.
  }
  return {
    version: "2.0",
    routeKey: key,
    rawPath: decodedPath,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(params).length > 0 ? { pathParameters: params } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: "local",
      http: {
        method: req.method ?? "GET",
        path: decodedPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: key,
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      ...(jwt ? { authorizer: { jwt } } : {}),
    },
    ...(body.length > 0
      ? { body: textual ? body.toString("utf8") : body.toString("base64"), isBase64Encoded: !textual }
      : { isBase64Encoded: false }),
  };
}

export const JWKS_PATH = "/.well-known/jwks.json";

/** The dashboard as served: its files by path ("/" is index.html) and their headers. */
export interface StaticSite {
  files: ReadonlyMap<string, { body: Buffer; headers: Record<string, string> }>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Reads a built site (web/build.ts) into memory and adds its config.json. The Content-Security-Policy lets
 * the page load only its own files and talk only to its own origin and `connectTo` (the S3 endpoint of
 * presigned uploads), so the browser itself refuses any other host.
 */
export async function loadStaticSite(
  dir: string,
  config: { apiUrl: string },
  connectTo: string[],
): Promise<StaticSite> {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    // Chart.js sizes its canvas with inline styles.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    `connect-src 'self' ${[config.apiUrl, ...connectTo].filter(Boolean).join(" ")}`.trim(),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  const files = new Map<string, { body: Buffer; headers: Record<string, string> }>();
  const add = (path: string, body: Buffer) =>
    files.set(path, {
      body,
      headers: {
        "content-type": CONTENT_TYPES[extname(path)] ?? "application/octet-stream",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        ...(path.endsWith(".html") ? { "content-security-policy": csp } : {}),
      },
    });
  for (const entry of await readdir(dir, { withFileTypes: true }))
    if (entry.isFile()) add(`/${entry.name}`, await readFile(join(dir, entry.name)));
  add("/config.json", Buffer.from(JSON.stringify(config)));
  const index = files.get("/index.html");
  if (index) files.set("/", index);
  return { files };
}

export function createApiServer(
  handlers: Record<HttpFunctionName, HttpHandler>,
  options: { authorizer: LocalAuthorizer; site?: StaticSite },
): Server {
  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://local");
      if (req.method === "GET" && url.pathname === JWKS_PATH)
        return send(res, 200, JSON.stringify(options.authorizer.jwks));
      const found = match(req.method ?? "GET", url.pathname);
      if (!found) {
        const file = options.site?.files.get(url.pathname);
        if (file && (req.method === "GET" || req.method === "HEAD")) {
          res.writeHead(200, { ...file.headers, "content-length": String(file.body.length) });
          return res.end(req.method === "HEAD" ? undefined : file.body);
        }
        return send(res, 404, JSON.stringify({ message: "Not Found" }));
      }
      const body = await readBody(req);
      if (body === "too-large")
        return send(res, 413, JSON.stringify({ message: "Request Entity Too Large" }));
      let jwt: VerifiedJwt | undefined;
      if (found.route.scope !== null) {
        jwt = await options.authorizer.verify(req.headers.authorization);
        if (!jwt) return send(res, 401, JSON.stringify({ message: "Unauthorized" }));
      }
      const event = toEvent(req, url, found.route.key, found.params, body, jwt);
      const raw = await handlers[found.route.fn](event, lambdaContext(found.route.fn));
      const result = (
        typeof raw === "string" ? { statusCode: 200, body: raw } : raw
      ) as APIGatewayProxyStructuredResultV2;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
      const payload = result.isBase64Encoded ? Buffer.from(result.body ?? "", "base64") : (result.body ?? "");
      res.writeHead(result.statusCode ?? 200, headers);
      res.end(payload);
    } catch {
      // API Gateway answers an integration failure with a bare 500.
      send(res, 500, JSON.stringify({ message: "Internal Server Error" }));
    }
  });
}
