/**
 * The OpenAPI 3.1 document of the API, built from the route table and the contract: one operation per route
 * (operationId = route id), parameters, bodies and answers converted from the zod schemas with
 * `z.toJSONSchema` (draft 2020-12, OpenAPI 3.1's schema dialect), shared schemas under components.
 *
 * Conventions of the conversion:
 * - request schemas are converted as zod *inputs* (what a caller may send: defaults are optional), answers as
 *   *outputs*;
 * - answer objects do not forbid additional properties: the service may add fields, and clients should
 *   ignore those they do not know; request objects built with `z.strictObject` do forbid them, as the
 *   server refuses unknown keys;
 * - the engine's rule schema, built one level per allowed depth, is replaced by the recursive
 *   `SegmentRule` of ./schemas (see there for what the server checks beyond it).
 */
import { z } from "zod";
import { segmentDefinitionSchema as engineDefinitionSchema, ruleSchema } from "../engine/rules";
import { datasetSettingsSchema, segmentSummarySchema } from "../model";
import { ROUTES } from "../routes";
import { CONTRACTS, ERROR_STATUS, type ErrorCode, errorsOf, type RouteContract, TAGS } from "./contract";
import * as s from "./schemas";
import { validationSchema } from "./value-model";
import { createUploadBodySchema } from "./write";

/** Version of the API the document describes; raised with each incompatible change. */
export const API_VERSION = "0.1.0";

export const DEFAULT_SCOPE_PREFIX = "segmentation";

export type JsonSchema = { [key: string]: unknown };
export type OpenApiDocument = { openapi: "3.1.0"; [key: string]: unknown };

export interface OpenApiOptions {
  /** Scopes are `<scopePrefix>/read`, `/write` and `/admin`; default "segmentation". */
  scopePrefix?: string;
}

interface ComponentMeta {
  id: string;
  description?: string;
}

/** Schemas that get a name under components.schemas, by identity. */
const COMPONENTS: ReadonlyArray<readonly [z.ZodType, ComponentMeta]> = [
  [
    s.errorBodySchema,
    {
      id: "Error",
      description:
        "Every error the service answers. `details[].path` names the field at fault, e.g. body.rule.and[1].field.",
    },
  ],
  [
    s.gatewayErrorSchema,
    { id: "GatewayError", description: "A refusal by API Gateway itself: bad token, throttling" },
  ],
  [
    datasetSettingsSchema,
    { id: "DatasetSettings", description: "Per-dataset settings; every field optional" },
  ],
  [s.datasetSchema, { id: "Dataset" }],
  [segmentSummarySchema, { id: "SegmentSummary", description: "A segment's size and economics" }],
  [s.savedDefinitionSchema, { id: "SegmentDefinition", description: "A saved rule segment" }],
  [engineDefinitionSchema, { id: "SegmentDefinitionRequest", description: "A rule segment to save or try" }],
  [s.segmentRuleSchema, { id: "SegmentRule", description: s.SEGMENT_RULE_DESCRIPTION }],
  [s.segmentConditionSchema, { id: "SegmentCondition", description: "A condition on one field" }],
  [s.ruleValueSchema, { id: "RuleValue", description: 'A string, number, boolean or {"days_ago": n}' }],
  [s.runSchema, { id: "Run" }],
  [s.customerSchema, { id: "Customer" }],
  [
    s.valueModelSchema,
    {
      id: "ValueModel",
      description: "The value models of the committed version and their holdout validation",
    },
  ],
  [
    validationSchema,
    {
      id: "HoldoutValidation",
      description:
        "Each repeat-purchase model fitted on the orders up to calibrationEnd and compared with the repeat " +
        "purchases the same customers made in (calibrationEnd, asOf]",
    },
  ],
  [createUploadBodySchema, { id: "UploadRequest" }],
  [s.uploadSchema, { id: "Upload" }],
];

/** Schemas whose conversion is replaced by a reference to a documented equivalent among the components. */
const SUBSTITUTES = new Map<unknown, string>([[ruleSchema, "SegmentRule"]]);

/**
 * Metadata for the conversion: component ids from COMPONENTS only, descriptions from the schemas' own
 * metadata as well. Ids other modules put in zod's global registry (such as the engine's per-level rule
 * schemas) are ignored, so nothing becomes a component by accident.
 */
class DocumentRegistry extends z.core.$ZodRegistry<Record<string, unknown>> {
  override get(schema: z.core.$ZodType): Record<string, unknown> | undefined {
    const own = super.get(schema);
    const global = z.globalRegistry.get(schema);
    if (!global) return own;
    const { id: _ignored, ...inherited } = global;
    const merged = { ...inherited, ...own };
    return Object.keys(merged).length > 0 ? merged : undefined;
  }
}

function isLooseObject(schema: z.core.$ZodType): boolean {
  const def = schema._zod.def;
  return def.type === "object" && (def as z.core.$ZodObjectDef).catchall?._zod.def.type !== "never";
}

const COMPONENT_REF = "#/components/schemas/";

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== "object" || value === null) return value;
  const out: JsonSchema = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] =
      key === "$ref" && typeof child === "string" && child.startsWith("#/$defs/")
        ? `${COMPONENT_REF}${child.slice("#/$defs/".length)}`
        : rewriteRefs(child);
  }
  return out;
}

/** Converts zod schemas to JSON Schemas whose named parts are collected in `components`. */
class SchemaConverter {
  readonly components: Record<string, JsonSchema> = {};
  private readonly registry = new DocumentRegistry();

  constructor() {
    for (const [schema, meta] of COMPONENTS) this.registry.add(schema, { ...meta });
  }

  convert(schema: z.ZodType, io: "input" | "output"): JsonSchema {
    const substitutes = new Set<string>();
    const json = z.toJSONSchema(schema, {
      target: "draft-2020-12",
      io,
      metadata: this.registry,
      unrepresentable: "throw",
      cycles: "ref",
      override: (ctx) => {
        const substitute = SUBSTITUTES.get(ctx.zodSchema);
        if (substitute !== undefined) {
          for (const key of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as JsonSchema)[key];
          ctx.jsonSchema.$ref = `${COMPONENT_REF}${substitute}`;
          substitutes.add(substitute);
          return;
        }
        if (
          io === "output" &&
          ctx.jsonSchema.additionalProperties === false &&
          isLooseObject(ctx.zodSchema)
        ) {
          delete ctx.jsonSchema.additionalProperties;
        }
        // `.int()` bounds integers to the safe range; said on every count, it only hides the real limits.
        if (ctx.jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete ctx.jsonSchema.minimum;
        if (ctx.jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete ctx.jsonSchema.maximum;
      },
    }) as JsonSchema;
    const { $schema: _dialect, $defs, ...root } = json;
    for (const [id, def] of Object.entries(($defs ?? {}) as Record<string, unknown>)) {
      this.addComponent(id, rewriteRefs(def) as JsonSchema);
    }
    for (const id of substitutes) {
      if (this.components[id]) continue;
      const target = COMPONENTS.find(([, meta]) => meta.id === id)?.[0];
      if (!target) throw new Error(`No component ${id} to substitute`);
      this.convert(target, "output");
    }
    return rewriteRefs(root) as JsonSchema;
  }

  /** A component reached from several schemas must convert the same each time (inputs and outputs alike). */
  private addComponent(id: string, json: JsonSchema): void {
    const existing = this.components[id];
    if (existing && JSON.stringify(existing) !== JSON.stringify(json)) {
      throw new Error(
        `Component ${id} converts differently in two places (as request and as answer?); give each its own schema`,
      );
    }
    this.components[id] = json;
  }
}

const SUCCESS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No content",
};
const ERROR_TEXT: Record<number, string> = {
  400: "Bad request",
  401: "No valid token (from API Gateway as GatewayError, or from the service)",
  403: "The token lacks the route's scope or a valid tenant (from API Gateway as GatewayError, or from the service)",
  404: "Not found",
  409: "Conflict",
  413: "Payload too large",
  429: "Throttled by API Gateway",
  500: "Internal error",
  503: "Could not finish in time; try again",
};

type Route = (typeof ROUTES)[number];

function pathParamNames(path: string): string[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? "");
}

function parameters(route: Route, contract: RouteContract, converter: SchemaConverter): JsonSchema[] {
  const out: JsonSchema[] = [];
  const inPath = pathParamNames(route.path);
  const declared = Object.keys(contract.params?.shape ?? {});
  if (inPath.join() !== declared.join()) {
    throw new Error(`${route.id}: path ${route.path} has parameters [${inPath}], its contract [${declared}]`);
  }
  for (const [where, schema] of [
    ["path", contract.params],
    ["query", contract.query],
  ] as const) {
    if (!schema) continue;
    const json = converter.convert(schema, "input");
    const required = new Set((json.required ?? []) as string[]);
    for (const [name, property] of Object.entries((json.properties ?? {}) as Record<string, JsonSchema>)) {
      const { description, ...rest } = property;
      out.push({
        name,
        in: where,
        required: where === "path" || required.has(name),
        ...(typeof description === "string" ? { description } : {}),
        schema: rest,
      });
    }
  }
  return out;
}

function errorResponse(status: number, codes: ErrorCode[], fromGateway: boolean): JsonSchema {
  const ours = {
    allOf: [
      { $ref: `${COMPONENT_REF}Error` },
      { type: "object", properties: { error: { type: "object", properties: { code: { enum: codes } } } } },
    ],
  };
  const schema = fromGateway ? { anyOf: [ours, { $ref: `${COMPONENT_REF}GatewayError` }] } : ours;
  return {
    description: `${ERROR_TEXT[status] ?? "Error"}: ${codes.join(", ")}`,
    content: { "application/json": { schema } },
  };
}

function responses(route: Route, contract: RouteContract, converter: SchemaConverter): JsonSchema {
  const out: JsonSchema = {};
  for (const [status, schema] of Object.entries(contract.responses) as [string, z.ZodType | null][]) {
    out[status] =
      schema === null
        ? { description: SUCCESS_TEXT[Number(status)] ?? "Success" }
        : {
            description: SUCCESS_TEXT[Number(status)] ?? "Success",
            content: { "application/json": { schema: converter.convert(schema, "output") } },
          };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorsOf(route.id)) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  if (route.scope !== null) {
    // API Gateway's JWT authorizer refuses before the function runs, with its own body.
    for (const status of [401, 403]) byStatus.set(status, byStatus.get(status) ?? []);
  }
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const codes = byStatus.get(status) ?? [];
    out[String(status)] = errorResponse(status, codes, status === 401 || status === 403);
  }
  out["429"] = {
    description: ERROR_TEXT[429],
    content: { "application/json": { schema: { $ref: `${COMPONENT_REF}GatewayError` } } },
  };
  return out;
}

function operation(route: Route, converter: SchemaConverter, scopePrefix: string): JsonSchema {
  const contract: RouteContract = CONTRACTS[route.id];
  const params = parameters(route, contract, converter);
  const body = contract.body;
  return {
    operationId: route.id,
    summary: route.summary,
    ...(contract.description ? { description: contract.description } : {}),
    tags: [contract.tag],
    security: route.scope === null ? [] : [{ bearerAuth: [`${scopePrefix}/${route.scope}`] }],
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(body
      ? {
          requestBody: {
            // A missing body is read as {}, so a body whose fields are all optional may be left out.
            required: !body.safeParse({}).success,
            content: { "application/json": { schema: converter.convert(body, "input") } },
          },
        }
      : {}),
    responses: responses(route, contract, converter),
  };
}

/** The OpenAPI 3.1.0 document of every route in the table. */
export function buildOpenApiDocument(options: OpenApiOptions = {}): OpenApiDocument {
  const scopePrefix = options.scopePrefix ?? DEFAULT_SCOPE_PREFIX;
  const converter = new SchemaConverter();
  // Referenced by every error answer rather than reached through a route's schemas.
  converter.convert(s.errorBodySchema, "output");
  converter.convert(s.gatewayErrorSchema, "output");
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ROUTES) {
    const item = paths[route.path] ?? {};
    const method = route.method.toLowerCase();
    if (item[method]) throw new Error(`Two routes for ${route.method} ${route.path}`);
    item[method] = operation(route, converter, scopePrefix);
    paths[route.path] = item;
  }
  const schemas = Object.fromEntries(
    Object.entries(converter.components).sort(([a], [b]) => a.localeCompare(b)),
  );
  return {
    openapi: "3.1.0",
    info: {
      title: "Customer segmentation service",
      version: API_VERSION,
      description:
        "RFM scores and segments, behavioural clusters, lifecycle stages, predicted lifetime value and rule " +
        "segments of your customers, computed from uploaded orders. Every error is " +
        "`{ error: { code, message, details: [{ path, code, message }] } }`.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            `An access token carrying the scope each operation lists: ${scopePrefix}/read, ` +
            `${scopePrefix}/write or ${scopePrefix}/admin, and the caller's tenant claim.`,
        },
      },
    },
  };
}
