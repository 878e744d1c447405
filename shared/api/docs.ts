/** The route that serves the API's own OpenAPI document. */
import type { ApiResult, RouteHandler } from "../http/api";
import type { RouteId } from "../routes";
import { buildOpenApiDocument, type OpenApiDocument, type OpenApiOptions } from "./openapi";

export function docsRoutes(options: OpenApiOptions = {}): Partial<Record<RouteId, RouteHandler>> {
  // Built on the first request rather than at cold start, then kept: it depends only on the code and options.
  let document: OpenApiDocument | undefined;

  const getOpenApi = async (): Promise<ApiResult> => {
    document ??= buildOpenApiDocument(options);
    return { status: 200, body: document, headers: { "cache-control": "public, max-age=300" } };
  };

  return { getOpenApi };
}
