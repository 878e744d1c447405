/**
 * A typed client of the API. It needs nothing but `fetch`: at run time it reads only the route table
 * (method and path of each route), and its types come from the contract in shared/api/contract, imported
 * for types only, so neither zod nor any server code ends up in a bundle that uses it.
 *
 *   const api = createClient({ baseUrl: "https://api.example.com", token: () => getAccessToken() });
 *   const { segments } = await api.listSegments({ params: { datasetId: "cdnow" } });
 *
 * Every route of the table is a method named by its id, taking `{ params, query, body }` as the route has
 * them and resolving to the body of its success answer. A non-2xx answer rejects with an `ApiError`.
 * Answers are typed, not validated: the server is trusted to send what its contract says.
 */
import type { z } from "zod";
import type { Contracts, ErrorCode } from "../api/contract";
import { ROUTES, type RouteId } from "../routes";

type Contract<R extends RouteId> = Contracts[R];
/** The empty object type: `Empty extends T` when every property of T is optional. */
type Empty = Record<never, never>;
type Simplify<T> = { [K in keyof T]: T[K] };
type Part<K extends string, T> = Empty extends T ? { [P in K]?: T } : { [P in K]: T };

/** A query travels as text: where the server coerces a value (zod types its input unknown), send it plainly. */
type QueryInput<T> = { [K in keyof T]: unknown extends T[K] ? string | number | boolean | undefined : T[K] };

/** A part the route does not take; `never` makes passing it an error. */
type Absent<K extends string> = { [P in K]?: never };

type ParamsPart<C> = C extends { params: infer P extends z.ZodType }
  ? Part<"params", z.input<P>>
  : Absent<"params">;
type QueryPart<C> = C extends { query: infer Q extends z.ZodType }
  ? Part<"query", QueryInput<z.input<Q>>>
  : Absent<"query">;
type BodyPart<C> = C extends { body: infer B extends z.ZodType } ? Part<"body", z.input<B>> : Absent<"body">;

/** What a route takes: its path parameters, query and body, each where the route has one. */
export type RouteInput<R extends RouteId> = Simplify<
  ParamsPart<Contract<R>> & QueryPart<Contract<R>> & BodyPart<Contract<R>>
>;

type Responses<R extends RouteId> = Contract<R>["responses"];
type BodyOf<S> = S extends z.ZodType ? z.output<S> : undefined;

/** The success statuses of a route. */
export type RouteStatus<R extends RouteId> = keyof Responses<R> & number;

/** The body of a route's success answer (undefined for 204). */
export type RouteOutput<R extends RouteId> = {
  [S in RouteStatus<R>]: BodyOf<Responses<R>[S]>;
}[RouteStatus<R>];

/** A success answer with its status, for routes whose statuses mean different things (200 vs 201). */
export type RouteResponse<R extends RouteId> = {
  [S in RouteStatus<R>]: { status: S; data: BodyOf<Responses<R>[S]> };
}[RouteStatus<R>];

type Args<R extends RouteId> = Empty extends RouteInput<R> ? [input?: RouteInput<R>] : [input: RouteInput<R>];

export type RouteMethods = { [R in RouteId]: (...args: Args<R>) => Promise<RouteOutput<R>> };

export interface ClientCore {
  /** Calls a route and resolves to its status and body. */
  request<R extends RouteId>(route: R, ...args: Args<R>): Promise<RouteResponse<R>>;
  /** Calls a route and resolves to its body. */
  call<R extends RouteId>(route: R, ...args: Args<R>): Promise<RouteOutput<R>>;
}

// A route named like a core method would shadow it.
type CoreNameClash = Extract<RouteId, keyof ClientCore>;
const noCoreNameClash: [CoreNameClash] extends [never] ? true : never = true;
void noCoreNameClash;

export type Client = RouteMethods & ClientCore;

export interface ClientOptions {
  /** The API's address, e.g. "https://abc.execute-api.eu-west-1.amazonaws.com" or "http://127.0.0.1:3000". */
  baseUrl: string;
  /** An access token, or a function that returns a fresh one for each request. */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface ApiErrorDetail {
  path?: string;
  code: string;
  message: string;
}

/**
 * A non-2xx answer. `code` is the service's error code (see ErrorCode); an answer not in the service's error
 * shape, such as API Gateway's own 401, 403 or 429, gets `HTTP_<status>` and the message it carried.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly status: number,
    readonly code: ErrorCode | (string & {}),
    message: string,
    readonly details: ApiErrorDetail[] = [],
    /** The parsed body of the answer, or its text when it was not JSON. */
    readonly body?: unknown,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toApiError(status: number, body: unknown): ApiError {
  const error = isRecord(body) ? body.error : undefined;
  if (isRecord(error) && typeof error.code === "string" && typeof error.message === "string") {
    const details = Array.isArray(error.details)
      ? error.details.filter(
          (d): d is ApiErrorDetail =>
            isRecord(d) && typeof d.code === "string" && typeof d.message === "string",
        )
      : [];
    return new ApiError(status, error.code, error.message, details, body);
  }
  const message = isRecord(body) && typeof body.message === "string" ? body.message : `HTTP ${status}`;
  return new ApiError(status, `HTTP_${status}`, message, [], body);
}

/** Path segments keep ':' and '@' (as in "rfm:champions"), which RFC 3986 allows there; the rest is encoded. */
function encodeSegment(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ":").replace(/%40/g, "@");
}

interface RawInput {
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
}

const ROUTE_BY_ID = new Map<string, (typeof ROUTES)[number]>(ROUTES.map((route) => [route.id, route]));

export function createClient(options: ClientOptions): Client {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function requestRaw(
    routeId: RouteId,
    input: RawInput = {},
  ): Promise<{ status: number; data: unknown }> {
    const route = ROUTE_BY_ID.get(routeId);
    if (!route) throw new TypeError(`Unknown route ${routeId}`);
    const path = route.path.replace(/\{([^}]+)\}/g, (_match, name: string) => {
      const value = input.params?.[name];
      if (value === undefined || value === null || value === "") {
        throw new TypeError(`${routeId} needs the path parameter ${name}`);
      }
      return encodeSegment(String(value));
    });
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(input.query ?? {})) {
      if (value !== undefined && value !== null) query.append(key, String(value));
    }
    const queryText = query.toString();
    const search = queryText === "" ? "" : `?${queryText}`;
    const headers: Record<string, string> = { accept: "application/json" };
    const token = typeof options.token === "function" ? await options.token() : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (input.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(input.body);
    }

    const response = await doFetch(`${baseUrl}${path}${search}`, { method: route.method, headers, body });
    const text = await response.text();
    let data: unknown;
    if (text !== "") {
      try {
        data = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new ApiError(response.status, "INVALID_RESPONSE", "The answer is not JSON", [], text);
        }
        data = text;
      }
    }
    if (!response.ok) throw toApiError(response.status, data);
    return { status: response.status, data };
  }

  const core: ClientCore = {
    request: (route, ...args) => requestRaw(route, args[0] as RawInput | undefined) as never,
    call: async (route, ...args) => (await requestRaw(route, args[0] as RawInput | undefined)).data as never,
  };
  const methods = Object.fromEntries(
    ROUTES.map((route) => [route.id, async (input?: RawInput) => (await requestRaw(route.id, input)).data]),
  ) as unknown as RouteMethods;
  return { ...methods, ...core };
}
