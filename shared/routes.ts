/**
 * The route table: every HTTP route of the service, the function that serves it and the scope it needs.
 * The CDK stack builds API Gateway routes from it and the local server dispatches with it, so the two
 * runtimes cannot drift apart.
 */

export type Scope = "read" | "write" | "admin";

/**
 * Functions that serve HTTP routes. Each maps to one Lambda function in AWS. `lookupApi` serves the hot read
 * route (one customer) from a bundle kept small for fast cold starts; a segment's member pages are read from
 * S3 by `readApi`, which has the bucket.
 */
export const HTTP_FUNCTIONS = ["readApi", "writeApi", "lookupApi"] as const;
export type HttpFunctionName = (typeof HTTP_FUNCTIONS)[number];

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteDef {
  /** Stable identifier, used as the OpenAPI operationId. */
  readonly id: string;
  readonly method: HttpMethod;
  /** API Gateway path template, parameters in braces. */
  readonly path: string;
  readonly fn: HttpFunctionName;
  /** Scope a caller needs; null for public routes (health, API document). */
  readonly scope: Scope | null;
  readonly summary: string;
  /**
   * A body beyond the default JSON of at most 256 KB: a larger limit (within the function's 6 MB invoke
   * payload), and whether `text/csv` is accepted as well.
   */
  readonly body?: { readonly maxBytes: number; readonly csv?: boolean };
  /**
   * A POST that carries no content with a meaning (an action on the resource of its path): like GET and
   * DELETE, a body sent with it is ignored rather than parsed.
   */
  readonly noBody?: true;
}

export const ROUTES = [
  { id: "health", method: "GET", path: "/health", fn: "readApi", scope: null, summary: "Liveness check" },
  {
    id: "getOpenApi",
    method: "GET",
    path: "/openapi.json",
    fn: "readApi",
    scope: null,
    summary: "This API as an OpenAPI 3.1 document",
  },
  {
    id: "createDataset",
    method: "POST",
    path: "/datasets",
    fn: "writeApi",
    scope: "write",
    summary: "Create a dataset, optionally with settings",
  },
  {
    id: "listDatasets",
    method: "GET",
    path: "/datasets",
    fn: "readApi",
    scope: "read",
    summary: "The caller's datasets, paginated",
  },
  {
    id: "getDataset",
    method: "GET",
    path: "/datasets/{datasetId}",
    fn: "readApi",
    scope: "read",
    summary: "One dataset: settings, committed version, counts",
  },
  {
    id: "putSettings",
    method: "PUT",
    path: "/datasets/{datasetId}/settings",
    fn: "writeApi",
    scope: "admin",
    summary: "Replace a dataset's settings and recompute it",
  },
  {
    id: "listDefinitions",
    method: "GET",
    path: "/datasets/{datasetId}/definitions",
    fn: "readApi",
    scope: "read",
    summary: "The dataset's rule segments",
  },
  {
    id: "getDefinition",
    method: "GET",
    path: "/datasets/{datasetId}/definitions/{segmentId}",
    fn: "readApi",
    scope: "read",
    summary: "One rule segment's definition",
  },
  {
    id: "putDefinition",
    method: "PUT",
    path: "/datasets/{datasetId}/definitions/{segmentId}",
    fn: "writeApi",
    scope: "write",
    summary: "Create or replace a rule segment and recompute the dataset",
  },
  {
    id: "deleteDefinition",
    method: "DELETE",
    path: "/datasets/{datasetId}/definitions/{segmentId}",
    fn: "writeApi",
    scope: "write",
    summary: "Delete a rule segment and recompute the dataset",
  },
  {
    id: "dryRun",
    method: "POST",
    path: "/datasets/{datasetId}/dry-run",
    fn: "writeApi",
    scope: "write",
    summary: "Size, economics and a sample of members a rule segment would have, without saving it",
  },
  {
    id: "listLists",
    method: "GET",
    path: "/datasets/{datasetId}/lists",
    fn: "readApi",
    scope: "read",
    summary: "The dataset's list segments with their sizes",
  },
  {
    id: "getList",
    method: "GET",
    path: "/datasets/{datasetId}/lists/{listId}",
    fn: "readApi",
    scope: "read",
    summary: "One list segment: its size, the members the last run found, ids that are no customers",
  },
  {
    id: "putList",
    method: "PUT",
    path: "/datasets/{datasetId}/lists/{listId}",
    fn: "writeApi",
    scope: "write",
    summary: "Create or replace a list segment from JSON or a CSV of customer ids, and recompute the dataset",
    body: { maxBytes: 5 * 1024 * 1024, csv: true },
  },
  {
    id: "changeListMembers",
    method: "POST",
    path: "/datasets/{datasetId}/lists/{listId}/members",
    fn: "writeApi",
    scope: "write",
    summary: "Add and remove up to 10,000 ids each of a list segment, and recompute the dataset",
    body: { maxBytes: 5 * 1024 * 1024 },
  },
  {
    id: "deleteList",
    method: "DELETE",
    path: "/datasets/{datasetId}/lists/{listId}",
    fn: "writeApi",
    scope: "write",
    summary: "Delete a list segment and recompute the dataset",
  },
  {
    id: "listLookalikes",
    method: "GET",
    path: "/datasets/{datasetId}/lookalikes",
    fn: "readApi",
    scope: "read",
    summary: "The dataset's lookalike segments with their seeds, sizes and the last run's model report",
  },
  {
    id: "getLookalike",
    method: "GET",
    path: "/datasets/{datasetId}/lookalikes/{lookalikeId}",
    fn: "readApi",
    scope: "read",
    summary:
      "One lookalike segment: its seed and size, and in the committed version its members' economics and model",
  },
  {
    id: "putLookalike",
    method: "PUT",
    path: "/datasets/{datasetId}/lookalikes/{lookalikeId}",
    fn: "writeApi",
    scope: "write",
    summary: "Create or replace a lookalike of a seed segment and recompute the dataset",
  },
  {
    id: "deleteLookalike",
    method: "DELETE",
    path: "/datasets/{datasetId}/lookalikes/{lookalikeId}",
    fn: "writeApi",
    scope: "write",
    summary: "Delete a lookalike segment and recompute the dataset",
  },
  {
    id: "createUpload",
    method: "POST",
    path: "/datasets/{datasetId}/uploads",
    fn: "writeApi",
    scope: "write",
    summary: "Get a presigned POST for a transactions or customers file",
  },
  {
    id: "getModel",
    method: "GET",
    path: "/datasets/{datasetId}/model",
    fn: "readApi",
    scope: "read",
    summary:
      "The value models: the model chosen and why, every fit, and its accuracy on held-out recent orders",
  },
  {
    id: "getCustomer",
    method: "GET",
    path: "/datasets/{datasetId}/customers/{customerId}",
    fn: "lookupApi",
    scope: "read",
    summary: "All segments and scores of one customer",
  },
  {
    id: "eraseCustomer",
    method: "DELETE",
    path: "/datasets/{datasetId}/customers/{customerId}",
    fn: "writeApi",
    scope: "admin",
    summary: "Erase one customer from the dataset: its results, files and exports",
  },
  {
    id: "getCustomerHistory",
    method: "GET",
    path: "/datasets/{datasetId}/customers/{customerId}/history",
    fn: "readApi",
    scope: "read",
    summary: "The segments one customer entered and left, run by run, newest first",
  },
  {
    id: "getErasure",
    method: "GET",
    path: "/datasets/{datasetId}/erasures/{erasureId}",
    fn: "readApi",
    scope: "admin",
    summary: "Status and counts of one erasure",
  },
  {
    id: "listSegments",
    method: "GET",
    path: "/datasets/{datasetId}/segments",
    fn: "readApi",
    scope: "read",
    summary: "Segments with size and revenue share",
  },
  {
    id: "getSegment",
    method: "GET",
    path: "/datasets/{datasetId}/segments/{segmentId}",
    fn: "readApi",
    scope: "read",
    summary: "One segment: economics, definition and profile",
  },
  {
    id: "getSegmentHistory",
    method: "GET",
    path: "/datasets/{datasetId}/segments/{segmentId}/history",
    fn: "readApi",
    scope: "read",
    summary: "The segment's size and revenue at each completed run, newest first",
  },
  {
    id: "createExport",
    method: "POST",
    path: "/datasets/{datasetId}/segments/{segmentId}/exports",
    fn: "writeApi",
    scope: "read",
    summary: "Export a segment's members as CSV and get a short-lived download link",
  },
  {
    id: "listSegmentMembers",
    method: "GET",
    path: "/datasets/{datasetId}/segments/{segmentId}/members",
    fn: "readApi",
    scope: "read",
    summary: "Members of one segment, paginated",
  },
  {
    id: "getOverlap",
    method: "POST",
    path: "/datasets/{datasetId}/overlap",
    fn: "readApi",
    scope: "read",
    summary: "How 2 to 30 segments overlap: pairwise shared members, each pair's share of each, Jaccard",
  },
  {
    id: "listIntersectionMembers",
    method: "GET",
    path: "/datasets/{datasetId}/segments/{segmentId}/intersections/{otherSegmentId}/members",
    fn: "readApi",
    scope: "read",
    summary: "Members of both of two segments, paginated in the members' order",
  },
  {
    id: "listRuns",
    method: "GET",
    path: "/datasets/{datasetId}/runs",
    fn: "readApi",
    scope: "read",
    summary: "Runs of a dataset, newest first",
  },
  {
    id: "getRun",
    method: "GET",
    path: "/datasets/{datasetId}/runs/{runId}",
    fn: "readApi",
    scope: "read",
    summary: "Status, counts and timings of one run",
  },
  {
    id: "createDestination",
    method: "POST",
    path: "/datasets/{datasetId}/destinations",
    fn: "writeApi",
    scope: "write",
    summary: "Create a webhook, S3 member-list or ad-audience destination; a webhook's secret is shown once",
  },
  {
    id: "listDestinations",
    method: "GET",
    path: "/datasets/{datasetId}/destinations",
    fn: "readApi",
    scope: "read",
    summary: "The dataset's destinations",
  },
  {
    id: "getDestination",
    method: "GET",
    path: "/datasets/{datasetId}/destinations/{destinationId}",
    fn: "readApi",
    scope: "read",
    summary: "One destination: kind, followed segments, status",
  },
  {
    id: "putDestination",
    method: "PUT",
    path: "/datasets/{datasetId}/destinations/{destinationId}",
    fn: "writeApi",
    scope: "write",
    summary: "Replace a destination's name, segments and settings (its kind stays)",
  },
  {
    id: "deleteDestination",
    method: "DELETE",
    path: "/datasets/{datasetId}/destinations/{destinationId}",
    fn: "writeApi",
    scope: "write",
    summary: "Delete a destination with its secret, outbox and delivery log",
  },
  {
    id: "rotateDestinationSecret",
    method: "POST",
    noBody: true,
    path: "/datasets/{datasetId}/destinations/{destinationId}/rotate-secret",
    fn: "writeApi",
    scope: "write",
    summary: "Make a new webhook signing secret, shown once; the old one signs too for 24 hours",
  },
  {
    id: "enableDestination",
    method: "POST",
    noBody: true,
    path: "/datasets/{datasetId}/destinations/{destinationId}/enable",
    fn: "writeApi",
    scope: "write",
    summary: "Re-enable a disabled destination; its pending deliveries go out again",
  },
  {
    id: "listDestinationDeliveries",
    method: "GET",
    path: "/datasets/{datasetId}/destinations/{destinationId}/deliveries",
    fn: "readApi",
    scope: "admin",
    summary: "A destination's outbox and attempt log, newest first, paginated",
  },
] as const satisfies readonly RouteDef[];

export type RouteId = (typeof ROUTES)[number]["id"];

/** The API Gateway route key of a route, e.g. "GET /datasets/{datasetId}/segments". */
export function routeKey(route: Pick<RouteDef, "method" | "path">): string {
  return `${route.method} ${route.path}`;
}
