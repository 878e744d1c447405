/**
 * The API contract: for every route of the table, the schemas of its path parameters, query and body (the
 * very schemas its core parses with), the schema of each successful answer, and the error codes it may
 * answer. The OpenAPI document (./openapi.ts) and the typed client (shared/client) are derived from it.
 *
 * `CONTRACTS` must hold exactly one entry per route id: a route added to the table without a contract, or a
 * contract for a route that does not exist, is a type error.
 */
import type { z } from "zod";
import { type Rule, segmentDefinitionSchema } from "../engine/rules";
import { datasetSettingsSchema } from "../model";
import { ROUTES, type RouteDef, type RouteId } from "../routes";
import {
  createDatasetBodySchema,
  datasetParams as datasetPathParams,
  definitionParams,
  listQuery as listDatasetsQuery,
} from "./datasets";
import {
  deliveriesQuery,
  destinationBodySchema,
  destinationParams,
  oneDestinationParams,
} from "./destinations";
import { eraseParams, erasureParams } from "./erasures";
import { createExportBodySchema, exportParams } from "./exports";
import { customerHistoryParams, customerHistoryQuery } from "./history";
import {
  changeListMembersBodySchema,
  listChangeAnswerSchema,
  listDetailSchema,
  listListSchema,
  listParams,
  listsParams,
  putListBodySchema,
  putListQuery,
} from "./lists";
import {
  lookalikeAnswerSchema,
  lookalikeChangeAnswerSchema,
  lookalikeListSchema,
  lookalikeParams,
  lookalikesParams,
  putLookalikeBodySchema,
} from "./lookalikes";
import { intersectionParams, intersectionQuery, overlapBodySchema, overlapParams } from "./overlap";
import {
  customerParams,
  datasetParams,
  historyQuery,
  pageQuery,
  runParams,
  runsQuery,
  segmentParams,
} from "./read";
import * as s from "./schemas";
import { createUploadBodySchema, uploadParams } from "./write";

/** Every error code the service answers in `{ error: { code } }`, with its HTTP status. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  BAD_JSON: 400,
  BAD_CURSOR: 400,
  UNSUPPORTED_MEDIA_TYPE: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  INVALID_TENANT: 403,
  TENANT_REQUIRED: 403,
  DATASET_NOT_FOUND: 404,
  DATASET_NOT_READY: 404,
  CUSTOMER_NOT_FOUND: 404,
  SEGMENT_NOT_FOUND: 404,
  DEFINITION_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  ERASURE_NOT_FOUND: 404,
  DESTINATION_NOT_FOUND: 404,
  LIST_NOT_FOUND: 404,
  TOO_MANY_IDS: 400,
  TOO_MANY_LISTS: 409,
  LIST_CHANGED: 409,
  SEGMENT_IN_USE: 409,
  LOOKALIKE_NOT_FOUND: 404,
  TOO_MANY_LOOKALIKES: 409,
  LOOKALIKE_IN_RULE: 400,
  DESTINATION_URL_NOT_ALLOWED: 400,
  DESTINATION_BUCKET_NOT_ALLOWED: 400,
  DESTINATION_KIND_CHANGED: 400,
  UNKNOWN_SEGMENT: 400,
  TOO_MANY_DESTINATIONS: 409,
  NOT_A_WEBHOOK: 409,
  DATASET_EXISTS: 409,
  TOO_MANY_DEFINITIONS: 409,
  CURSOR_STALE: 409,
  STATE_UNAVAILABLE: 409,
  DRY_RUN_UNAVAILABLE: 409,
  OVERLAP_UNAVAILABLE: 409,
  MEMBER_PAGES_MISSING: 409,
  PAYLOAD_TOO_LARGE: 413,
  INTERNAL: 500,
  DRY_RUN_TIMEOUT: 503,
} as const satisfies Record<string, number>;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Resources the operations are grouped by. */
export const TAGS = {
  service: "The service itself: liveness and this document",
  datasets: "Datasets and their settings",
  uploads: "Presigned uploads of transactions and customers files",
  customers: "One customer's scores and segments",
  segments: "Segments, their members and history",
  definitions: "Rule segments: definitions and dry runs",
  lists: "List segments: customer ids uploaded or edited by hand, usable in rules",
  lookalikes: "Lookalike segments: the customers most like a seed segment, by a model refitted every run",
  runs: "Computation runs",
  models: "The value models and their accuracy on held-out recent orders",
  destinations: "Destinations: webhooks, S3 member lists and ad audiences fed after each run",
} as const;
export type Tag = keyof typeof TAGS;

export type SuccessStatus = 200 | 201 | 202 | 204;

export interface RouteContract {
  readonly tag: Tag;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** Each success status with the schema of its body; null for an empty body. */
  readonly responses: { readonly [S in SuccessStatus]?: z.ZodType | null };
  /** Codes of the route's own logic; `errorsOf` adds those every route of its kind may answer. */
  readonly errors: readonly ErrorCode[];
  readonly description?: string;
}

/** What a caller sends to save a rule segment. */
export interface SegmentDefinitionInput {
  name: string;
  description?: string;
  rule: Rule;
}

/**
 * The engine's definition schema, unchanged at run time. Its rule levels are typed `z.ZodType<Rule>` with an
 * unknown input (they must take any JSON to report every problem), so the input type callers should send is
 * stated here.
 */
const definitionBody = segmentDefinitionSchema as unknown as z.ZodType<
  z.output<typeof segmentDefinitionSchema>,
  SegmentDefinitionInput
>;

export const CONTRACTS = {
  health: { tag: "service", responses: { 200: s.healthSchema }, errors: [] },
  getOpenApi: { tag: "service", responses: { 200: s.openApiDocumentSchema }, errors: [] },
  createDataset: {
    tag: "datasets",
    body: createDatasetBodySchema,
    responses: { 201: s.datasetSchema },
    errors: ["DATASET_EXISTS"],
  },
  listDatasets: {
    tag: "datasets",
    query: listDatasetsQuery,
    responses: { 200: s.datasetListSchema },
    errors: ["BAD_CURSOR"],
  },
  getDataset: {
    tag: "datasets",
    params: datasetPathParams,
    responses: { 200: s.datasetSchema },
    errors: ["DATASET_NOT_FOUND"],
  },
  putSettings: {
    tag: "datasets",
    params: datasetPathParams,
    body: datasetSettingsSchema,
    responses: { 200: s.datasetWithRecomputeSchema },
    errors: ["DATASET_NOT_FOUND"],
    description: "Replaces the whole settings object; a dataset with a committed version is recomputed.",
  },
  listDefinitions: {
    tag: "definitions",
    params: datasetPathParams,
    responses: { 200: s.definitionListSchema },
    errors: ["DATASET_NOT_FOUND"],
  },
  getDefinition: {
    tag: "definitions",
    params: definitionParams,
    responses: { 200: s.savedDefinitionSchema },
    errors: ["DATASET_NOT_FOUND", "DEFINITION_NOT_FOUND"],
  },
  putDefinition: {
    tag: "definitions",
    params: definitionParams,
    body: definitionBody,
    responses: { 200: s.savedDefinitionWithRecomputeSchema, 201: s.savedDefinitionWithRecomputeSchema },
    errors: ["DATASET_NOT_FOUND", "TOO_MANY_DEFINITIONS", "LOOKALIKE_IN_RULE"],
    description:
      "201 when the rule segment is new, 200 when it replaced one. A rule may not name a lookalike segment " +
      "(400 LOOKALIKE_IN_RULE at the condition's path).",
  },
  deleteDefinition: {
    tag: "definitions",
    params: definitionParams,
    responses: { 204: null },
    errors: ["DATASET_NOT_FOUND", "DEFINITION_NOT_FOUND", "SEGMENT_IN_USE"],
  },
  dryRun: {
    tag: "definitions",
    params: datasetPathParams,
    body: definitionBody,
    responses: { 200: s.dryRunSchema },
    errors: [
      "DATASET_NOT_FOUND",
      "DATASET_NOT_READY",
      "STATE_UNAVAILABLE",
      "DRY_RUN_UNAVAILABLE",
      "DRY_RUN_TIMEOUT",
    ],
  },
  listLists: {
    tag: "lists",
    params: listsParams,
    responses: { 200: listListSchema },
    errors: ["DATASET_NOT_FOUND"],
  },
  getList: {
    tag: "lists",
    params: listParams,
    responses: { 200: listDetailSchema },
    errors: ["DATASET_NOT_FOUND", "LIST_NOT_FOUND", "LIST_CHANGED"],
    description:
      "Size, the first ids, and what the last run found: members, and ids that are no customers (counted, with a sample).",
  },
  putList: {
    tag: "lists",
    params: listParams,
    query: putListQuery,
    body: putListBodySchema,
    responses: { 200: listChangeAnswerSchema, 201: listChangeAnswerSchema },
    errors: ["DATASET_NOT_FOUND", "TOO_MANY_IDS", "TOO_MANY_LISTS", "LIST_CHANGED"],
    description:
      "JSON { name, description?, customerIds? }, or a text/csv body of one column of ids (optional header customer_id) with name and description in the query. At most 100,000 ids and 5 MB. 201 when the list is new.",
  },
  changeListMembers: {
    tag: "lists",
    params: listParams,
    body: changeListMembersBodySchema,
    responses: { 200: listChangeAnswerSchema },
    errors: ["DATASET_NOT_FOUND", "LIST_NOT_FOUND", "TOO_MANY_IDS", "LIST_CHANGED"],
    description: "At most 10,000 ids to add and 10,000 to remove per call (400 TOO_MANY_IDS beyond).",
  },
  deleteList: {
    tag: "lists",
    params: listParams,
    responses: { 204: null },
    errors: ["DATASET_NOT_FOUND", "LIST_NOT_FOUND", "SEGMENT_IN_USE"],
  },
  listLookalikes: {
    tag: "lookalikes",
    params: lookalikesParams,
    responses: { 200: lookalikeListSchema },
    errors: ["DATASET_NOT_FOUND"],
  },
  getLookalike: {
    tag: "lookalikes",
    params: lookalikeParams,
    responses: { 200: lookalikeAnswerSchema },
    errors: ["DATASET_NOT_FOUND", "LOOKALIKE_NOT_FOUND"],
  },
  putLookalike: {
    tag: "lookalikes",
    params: lookalikeParams,
    body: putLookalikeBodySchema,
    responses: { 200: lookalikeChangeAnswerSchema, 201: lookalikeChangeAnswerSchema },
    errors: ["DATASET_NOT_FOUND", "UNKNOWN_SEGMENT", "TOO_MANY_LOOKALIKES"],
    description:
      "JSON { name, description?, seed, size: { top } | { percent }, attributes? }. The seed is any segment of " +
      "the dataset but a lookalike. At most 20 per dataset. 201 when the lookalike is new; the recompute it " +
      "starts fits the model and computes the members.",
  },
  deleteLookalike: {
    tag: "lookalikes",
    params: lookalikeParams,
    responses: { 204: null },
    errors: ["DATASET_NOT_FOUND", "LOOKALIKE_NOT_FOUND"],
  },
  createUpload: {
    tag: "uploads",
    params: uploadParams,
    body: createUploadBodySchema,
    responses: { 201: s.uploadSchema },
    errors: [],
    description: "Creates the dataset if it does not exist yet.",
  },
  getCustomer: {
    tag: "customers",
    params: customerParams,
    responses: { 200: s.customerSchema },
    errors: ["DATASET_NOT_FOUND", "DATASET_NOT_READY", "CUSTOMER_NOT_FOUND"],
  },
  getCustomerHistory: {
    tag: "customers",
    params: customerHistoryParams,
    query: customerHistoryQuery,
    responses: { 200: s.customerHistorySchema },
    errors: ["DATASET_NOT_FOUND", "DATASET_NOT_READY", "BAD_CURSOR"],
    description:
      "Each committed run that changed the customer's segments, with the segments entered and left, its " +
      "evaluation date and commit time. Only changes are kept: a run that changes nothing adds no entry. An id " +
      "the dataset never held (or an erased customer) has no entries. Runs that never committed are never shown.",
  },
  eraseCustomer: {
    tag: "customers",
    params: eraseParams,
    responses: { 202: s.erasureSchema },
    errors: ["DATASET_NOT_FOUND"],
    description:
      "Records the request (with a keyed hash of the customer id, never the id) and erases the customer in the " +
      "background: their table items, their rows in uploaded files, the state of earlier versions and the " +
      "dataset's exports; a new version without them is published. Follow it with getErasure. Later uploads " +
      "leave the customer out. Accepted also for an id the dataset does not hold, which reveals nothing.",
  },
  getErasure: {
    tag: "customers",
    params: erasureParams,
    responses: { 200: s.erasureSchema },
    errors: ["ERASURE_NOT_FOUND"],
  },
  getModel: {
    tag: "models",
    params: datasetParams,
    responses: { 200: s.valueModelSchema },
    errors: ["DATASET_NOT_FOUND", "DATASET_NOT_READY"],
    description:
      "The repeat-purchase models (BG/NBD, Pareto/NBD, MBG/NBD) and Gamma-Gamma of the committed version. Before " +
      "predicting, each run fits every model on the orders up to asOf − holdoutDays, predicts each of those " +
      "customers' repeat purchases (distinct purchase days) in the holdout window, and serves the model with the " +
      "lowest mean absolute error per customer, refitted on all the data (the dataset's value.model setting can " +
      "fix it instead). `validation` holds that comparison, `summary` says it in one sentence, and " +
      "`validationSkipped` says why there is none.",
  },
  listSegments: {
    tag: "segments",
    params: datasetParams,
    responses: { 200: s.segmentListSchema },
    errors: ["DATASET_NOT_FOUND", "DATASET_NOT_READY"],
  },
  getSegment: {
    tag: "segments",
    params: segmentParams,
    responses: { 200: s.segmentDetailSchema },
    errors: ["DATASET_NOT_FOUND", "DATASET_NOT_READY", "SEGMENT_NOT_FOUND"],
  },
  getSegmentHistory: {
    tag: "segments",
    params: segmentParams,
    query: historyQuery,
    responses: { 200: s.segmentHistorySchema },
    errors: ["DATASET_NOT_FOUND", "BAD_CURSOR"],
  },
  createExport: {
    tag: "segments",
    params: exportParams,
    body: createExportBodySchema,
    responses: { 201: s.exportSchema },
    errors: ["DATASET_NOT_FOUND", "DATASET_NOT_READY", "SEGMENT_NOT_FOUND", "STATE_UNAVAILABLE"],
    description:
      "Text cells starting with =, +, -, @, tab or carriage return are prefixed with a single quote, so a spreadsheet shows them as text.",
  },
  listSegmentMembers: {
    tag: "segments",
    params: segmentParams,
    query: pageQuery,
    responses: { 200: s.segmentMembersSchema },
    errors: [
      "DATASET_NOT_FOUND",
      "DATASET_NOT_READY",
      "SEGMENT_NOT_FOUND",
      "BAD_CURSOR",
      "CURSOR_STALE",
      "MEMBER_PAGES_MISSING",
    ],
    description:
      "In the order of the UTF-8 bytes of the ids, read from the version's member pages. A cursor is bound to " +
      "the segment's version: after a recompute it answers 409 CURSOR_STALE. A version committed before runs " +
      "wrote member pages answers 409 MEMBER_PAGES_MISSING until a run (a refresh will do) commits.",
  },
  getOverlap: {
    tag: "segments",
    params: overlapParams,
    body: overlapBodySchema,
    responses: { 200: s.overlapSchema },
    errors: ["DATASET_NOT_FOUND", "DATASET_NOT_READY", "UNKNOWN_SEGMENT", "OVERLAP_UNAVAILABLE"],
    description:
      "Changes nothing: POST only because the list of segments is a body. For each pair of the committed " +
      "version's segments, counted from its members as bitsets: the customers in both, in either, the share of " +
      "each segment also in the other, and the Jaccard index. An id the version lacks answers 400 " +
      "UNKNOWN_SEGMENT naming `body.segments.<i>`; a version committed before memberships were kept for " +
      "overlaps answers 409 OVERLAP_UNAVAILABLE until the next run.",
  },
  listIntersectionMembers: {
    tag: "segments",
    params: intersectionParams,
    query: intersectionQuery,
    responses: { 200: s.intersectionMembersSchema },
    errors: [
      "DATASET_NOT_FOUND",
      "DATASET_NOT_READY",
      "SEGMENT_NOT_FOUND",
      "OVERLAP_UNAVAILABLE",
      "BAD_CURSOR",
      "CURSOR_STALE",
    ],
    description:
      "In the order of listSegmentMembers (the UTF-8 bytes of the ids), so a page here is the two segments' " +
      "member pages intersected. A cursor is bound to the pair and the version.",
  },
  listRuns: {
    tag: "runs",
    params: datasetParams,
    query: runsQuery,
    responses: { 200: s.runListSchema },
    errors: ["DATASET_NOT_FOUND", "BAD_CURSOR"],
  },
  getRun: {
    tag: "runs",
    params: runParams,
    responses: { 200: s.runDetailSchema },
    errors: ["RUN_NOT_FOUND"],
  },
  createDestination: {
    tag: "destinations",
    params: destinationParams,
    body: destinationBodySchema,
    responses: { 201: s.destinationWithSecretSchema },
    errors: [
      "DATASET_NOT_FOUND",
      "UNKNOWN_SEGMENT",
      "DESTINATION_URL_NOT_ALLOWED",
      "DESTINATION_BUCKET_NOT_ALLOWED",
      "TOO_MANY_DESTINATIONS",
    ],
    description:
      "Exactly one of webhook, s3 and audience, matching kind. A webhook URL must be https to a public address " +
      "(private, loopback, link-local, CGNAT, multicast and unique-local addresses are refused). Followed " +
      "segments (1 to 50) must exist in the dataset. At most 20 destinations per dataset. The answer to a " +
      "webhook's creation carries its signing secret, which no later read shows.",
  },
  listDestinations: {
    tag: "destinations",
    params: destinationParams,
    responses: { 200: s.destinationListSchema },
    errors: ["DATASET_NOT_FOUND"],
  },
  getDestination: {
    tag: "destinations",
    params: oneDestinationParams,
    responses: { 200: s.destinationSchema },
    errors: ["DATASET_NOT_FOUND", "DESTINATION_NOT_FOUND"],
  },
  putDestination: {
    tag: "destinations",
    params: oneDestinationParams,
    body: destinationBodySchema,
    responses: { 200: s.destinationSchema },
    errors: [
      "DATASET_NOT_FOUND",
      "DESTINATION_NOT_FOUND",
      "DESTINATION_KIND_CHANGED",
      "UNKNOWN_SEGMENT",
      "DESTINATION_URL_NOT_ALLOWED",
      "DESTINATION_BUCKET_NOT_ALLOWED",
    ],
    description:
      "Replaces name, segments, includeOptedOut and the kind's settings; a webhook keeps its secret.",
  },
  deleteDestination: {
    tag: "destinations",
    params: oneDestinationParams,
    responses: { 204: null },
    errors: ["DATASET_NOT_FOUND", "DESTINATION_NOT_FOUND"],
    description: "Deletes its signing secrets, its outbox with the pending bodies, and its attempt log.",
  },
  rotateDestinationSecret: {
    tag: "destinations",
    params: oneDestinationParams,
    responses: { 200: s.destinationWithSecretSchema },
    errors: ["DATASET_NOT_FOUND", "DESTINATION_NOT_FOUND", "NOT_A_WEBHOOK"],
    description:
      "The answer carries the new secret, shown this once. For 24 hours deliveries carry a signature by each " +
      "secret (webhook-signature lists both); a second rotation ends the first one's grace at once.",
  },
  enableDestination: {
    tag: "destinations",
    params: oneDestinationParams,
    responses: { 200: s.destinationSchema },
    errors: ["DATASET_NOT_FOUND", "DESTINATION_NOT_FOUND"],
    description:
      "Clears the reason it was disabled and its failure count; its pending deliveries are sent again.",
  },
  listDestinationDeliveries: {
    tag: "destinations",
    params: oneDestinationParams,
    query: deliveriesQuery,
    responses: { 200: s.destinationDeliveriesSchema },
    errors: ["DATASET_NOT_FOUND", "DESTINATION_NOT_FOUND", "BAD_CURSOR"],
    description:
      "The outbox (one entry per webhook message: run, segment, part, status, attempts, counts entered/left) and " +
      "the attempt log (status code, latency, error), each newest first with its own cursor. Neither holds " +
      "customer ids.",
  },
} as const satisfies Record<RouteId, RouteContract>;

export type Contracts = typeof CONTRACTS;

const ROUTE_BY_ID = new Map<string, RouteDef>(ROUTES.map((r) => [r.id, r]));

export function routeOf(id: RouteId): RouteDef {
  const route = ROUTE_BY_ID.get(id);
  if (!route) throw new Error(`No route ${id}`);
  return route;
}

/**
 * Every error code a route may answer: its own, plus those of the HTTP shell (validation of what it parses,
 * JSON bodies), of authorization (routes with a scope) and INTERNAL.
 */
export function errorsOf(id: RouteId): ErrorCode[] {
  const contract: RouteContract = CONTRACTS[id];
  const codes = new Set<ErrorCode>();
  if (contract.params || contract.query || contract.body) codes.add("VALIDATION_FAILED");
  if (contract.body) {
    for (const code of ["BAD_JSON", "UNSUPPORTED_MEDIA_TYPE", "PAYLOAD_TOO_LARGE"] as const) codes.add(code);
  }
  if (routeOf(id).scope !== null) {
    for (const code of ["UNAUTHORIZED", "FORBIDDEN", "INVALID_TENANT", "TENANT_REQUIRED"] as const) {
      codes.add(code);
    }
  }
  for (const code of contract.errors) codes.add(code);
  codes.add("INTERNAL");
  return [...codes];
}
