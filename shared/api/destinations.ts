/**
 * Destination routes: create, list, read, replace and delete a dataset's destinations, rotate a webhook's
 * signing secret, re-enable a disabled destination, and read its outbox and attempt log.
 *
 * - A webhook URL must pass the SSRF guard (shared/destinations/ssrf.ts): https to a public address, or
 *   http/loopback where the local service allows it; refused with 400 DESTINATION_URL_NOT_ALLOWED.
 * - Followed segments must exist in the dataset: a built-in RFM segment or lifecycle stage, a segment of the
 *   committed version (clusters, lists), or a saved rule segment; else 400 UNKNOWN_SEGMENT naming it.
 * - An s3 or audience destination's bucket must be one the deployment names (`destinationBuckets`); else
 *   400 DESTINATION_BUCKET_NOT_ALLOWED naming the field.
 * - At most MAX_DESTINATIONS_PER_DATASET per dataset (409 TOO_MANY_DESTINATIONS).
 * - The signing secret is made here, kept in the secret store (never the table) and shown exactly twice in
 *   its life: in the answer that created it, the create or the rotation.
 */
import { z } from "zod";
import {
  bucketNameSchema,
  type DestinationRecord,
  type DestinationRef,
  destinationIdSchema,
  destinationKindSchema,
  followedSegmentIdSchema,
  keyPrefixSchema,
  MAX_DESTINATIONS_PER_DATASET,
  MAX_FOLLOWED_SEGMENTS,
  newDestinationId,
  randomId,
} from "../destinations/model";
import type { DeliveryQueue, DestinationStore, SecretStore } from "../destinations/ports";
import { type Resolver, systemResolver, UnsafeUrlError, vetUrl } from "../destinations/ssrf";
import { newWebhookSecret, ROTATION_GRACE_MS } from "../destinations/webhook";
import { LIFECYCLE_STAGES } from "../engine/lifecycle";
import { RFM_SEGMENTS } from "../engine/rfm";
import { BadRequestError, ConflictError, NotFoundError } from "../errors";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { CursorCodec } from "../http/cursor";
import { parseWith } from "../http/validation";
import { datasetIdSchema } from "../model";
import type { BlobStore, DatasetDefinitionStore } from "../pipeline/ports";
import type { RouteId } from "../routes";

export interface DestinationDeps {
  store: DatasetDefinitionStore;
  destinations: DestinationStore;
  secrets: SecretStore;
  deliveryQueue: DeliveryQueue;
  blobs: Pick<BlobStore, "delete">;
  cursors: CursorCodec;
  /** http and loopback webhook URLs allowed (the local service only). */
  allowLoopbackWebhooks: boolean;
  /**
   * The only buckets s3 and audience destinations may name (the deployment's `destinationBuckets`, which its
   * IAM grants match); none named refuses both kinds. Undefined, as in the local service: any bucket.
   */
  destinationBuckets?: readonly string[] | undefined;
  /** Resolves webhook hosts for the SSRF guard; the system resolver by default. */
  resolve?: Resolver;
  /** List segment ids of the dataset not yet in a committed version (lists saved since the last run). */
  listIds?: (tenantId: string, datasetId: string) => Promise<readonly string[]>;
  now?: () => Date;
}

const accountIdSchema = z.string().regex(/^\d{12}$/, "must be a 12-digit AWS account id");

export const destinationParams = z.object({ datasetId: datasetIdSchema });
export const oneDestinationParams = z.object({
  datasetId: datasetIdSchema,
  destinationId: destinationIdSchema,
});
export const deliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(2048).optional(),
  attemptsCursor: z.string().max(2048).optional(),
});

export const destinationBodySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    kind: destinationKindSchema,
    segments: z
      .array(followedSegmentIdSchema)
      .min(1)
      .max(MAX_FOLLOWED_SEGMENTS)
      .refine((ids) => new Set(ids).size === ids.length, "must not name a segment twice"),
    includeOptedOut: z.boolean().default(false),
    webhook: z.strictObject({ url: z.string().min(1).max(2048) }).optional(),
    s3: z
      .strictObject({
        bucket: bucketNameSchema,
        prefix: keyPrefixSchema.default(""),
        format: z.enum(["csv", "jsonl"]).default("csv"),
        expectedBucketOwner: accountIdSchema.optional(),
      })
      .optional(),
    audience: z
      .strictObject({
        platform: z.enum(["google", "meta"]),
        bucket: bucketNameSchema,
        prefix: keyPrefixSchema.default(""),
        expectedBucketOwner: accountIdSchema.optional(),
      })
      .optional(),
  })
  .superRefine((body, ctx) => {
    for (const kind of ["webhook", "s3", "audience"] as const) {
      if (kind === body.kind && body[kind] === undefined)
        ctx.addIssue({ code: "custom", path: [kind], message: `is required for a ${kind} destination` });
      if (kind !== body.kind && body[kind] !== undefined)
        ctx.addIssue({ code: "custom", path: [kind], message: `is only for a ${kind} destination` });
    }
  });
export type DestinationBody = z.output<typeof destinationBodySchema>;

/** A destination as the API shows it: no tenant, no secret references, no bookkeeping. */
export function destinationView(d: DestinationRecord) {
  const { tenantId: _tenant, webhook, ...rest } = d;
  return {
    ...rest,
    ...(webhook
      ? {
          webhook: {
            url: webhook.url,
            ...(webhook.rotatedAt ? { rotatedAt: webhook.rotatedAt } : {}),
            ...(webhook.previousSecretUntil ? { previousSecretUntil: webhook.previousSecretUntil } : {}),
          },
        }
      : {}),
  };
}

/** Name of a destination's secret in the secret store; each rotation makes a new one. */
const secretName = (ref: DestinationRef) =>
  `${ref.tenantId}/${ref.datasetId}/${ref.destinationId}/${randomId("s")}`;

export function destinationRoutes(deps: DestinationDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, destinations, secrets, cursors } = deps;
  const now = deps.now ?? (() => new Date());
  const resolve = deps.resolve ?? systemResolver;

  async function requireDataset(tenantId: string, datasetId: string) {
    const meta = await store.getDataset(tenantId, datasetId);
    if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    return meta;
  }

  async function requireDestination(ref: DestinationRef): Promise<DestinationRecord> {
    const found = await destinations.getDestination(ref);
    if (!found)
      throw new NotFoundError("DESTINATION_NOT_FOUND", `Destination ${ref.destinationId} does not exist`);
    return found;
  }

  async function checkUrl(url: string): Promise<void> {
    try {
      await vetUrl(url, { allowLoopback: deps.allowLoopbackWebhooks }, resolve);
    } catch (error) {
      if (!(error instanceof UnsafeUrlError)) throw error;
      throw new BadRequestError("DESTINATION_URL_NOT_ALLOWED", error.message, [
        { path: "body.webhook.url", code: error.code, message: error.message },
      ]);
    }
  }

  function checkBucket(body: DestinationBody): void {
    const allowed = deps.destinationBuckets;
    const target = body.s3 ? { path: "body.s3.bucket", bucket: body.s3.bucket } : undefined;
    const where =
      target ?? (body.audience ? { path: "body.audience.bucket", bucket: body.audience.bucket } : undefined);
    if (!where || allowed === undefined || allowed.includes(where.bucket)) return;
    const message =
      allowed.length === 0
        ? "This deployment names no destination buckets (CDK context destinationBuckets)"
        : `Bucket ${where.bucket} is not one of this deployment's destination buckets: ${allowed.join(", ")}`;
    throw new BadRequestError("DESTINATION_BUCKET_NOT_ALLOWED", message, [
      { path: where.path, code: "DESTINATION_BUCKET_NOT_ALLOWED", message },
    ]);
  }

  async function checkSegments(tenantId: string, datasetId: string, segments: readonly string[]) {
    const meta = await requireDataset(tenantId, datasetId);
    const known = new Set<string>([
      ...RFM_SEGMENTS.map((s) => s.id),
      ...LIFECYCLE_STAGES.map((s) => s.id),
      ...(meta.current?.segments ?? []).map((s) => s.id),
    ]);
    const missing = segments.filter((id) => !known.has(id));
    if (missing.length === 0) return;
    const more = new Set<string>([
      ...(await store.listDefinitions(tenantId, datasetId)).map((d) => d.segmentId),
      ...(deps.listIds ? await deps.listIds(tenantId, datasetId) : []),
    ]);
    const unknown = missing.filter((id) => !more.has(id));
    if (unknown.length === 0) return;
    throw new BadRequestError(
      "UNKNOWN_SEGMENT",
      `The dataset has no segment ${unknown[0]}${unknown.length > 1 ? ` (and ${unknown.length - 1} more)` : ""}`,
      unknown.map((id) => ({
        path: `body.segments.${segments.indexOf(id)}`,
        code: "UNKNOWN_SEGMENT",
        message: `no segment ${id} in this dataset`,
      })),
    );
  }

  /** The kind's configuration of a record from a body; a webhook keeps `webhook` (secret refs) as given. */
  function configOf(body: DestinationBody, webhook?: DestinationRecord["webhook"]) {
    if (body.kind === "webhook" && body.webhook && webhook)
      return { webhook: { ...webhook, url: body.webhook.url } };
    if (body.kind === "s3" && body.s3) return { s3: body.s3 };
    if (body.kind === "audience" && body.audience) return { audience: body.audience };
    return {};
  }

  const createDestination = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(destinationParams, req.params, "path");
    const body = parseWith(destinationBodySchema, req.body ?? {}, "body");
    checkBucket(body);
    await checkSegments(req.tenantId, datasetId, body.segments);
    if (body.webhook) await checkUrl(body.webhook.url);
    const at = now();
    const ref = { tenantId: req.tenantId, datasetId, destinationId: newDestinationId() };
    let secret: string | undefined;
    let webhook: DestinationRecord["webhook"];
    if (body.kind === "webhook") {
      secret = newWebhookSecret();
      webhook = {
        url: body.webhook?.url ?? "",
        secretRef: await secrets.create(secretName(ref), secret),
      };
    }
    const record: DestinationRecord = {
      ...ref,
      name: body.name,
      kind: body.kind,
      segments: body.segments,
      includeOptedOut: body.includeOptedOut,
      status: "enabled",
      consecutiveFailures: 0,
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
      ...configOf(body, webhook),
    };
    const created = await destinations.createDestination(record, MAX_DESTINATIONS_PER_DATASET);
    if (!created) {
      if (webhook) await secrets.delete(webhook.secretRef);
      throw new ConflictError(
        "TOO_MANY_DESTINATIONS",
        `A dataset holds at most ${MAX_DESTINATIONS_PER_DATASET} destinations`,
      );
    }
    return { status: 201, body: { ...destinationView(record), ...(secret ? { secret } : {}) } };
  };

  const listDestinations = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId } = parseWith(destinationParams, req.params, "path");
    await requireDataset(req.tenantId, datasetId);
    const all = await destinations.listDestinations(req.tenantId, datasetId);
    return { status: 200, body: { datasetId, destinations: all.map(destinationView) } };
  };

  const getDestination = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, destinationId } = parseWith(oneDestinationParams, req.params, "path");
    await requireDataset(req.tenantId, datasetId);
    const found = await requireDestination({ tenantId: req.tenantId, datasetId, destinationId });
    return { status: 200, body: destinationView(found) };
  };

  const putDestination = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, destinationId } = parseWith(oneDestinationParams, req.params, "path");
    const body = parseWith(destinationBodySchema, req.body ?? {}, "body");
    const ref = { tenantId: req.tenantId, datasetId, destinationId };
    await requireDataset(req.tenantId, datasetId);
    const existing = await requireDestination(ref);
    if (existing.kind !== body.kind) {
      throw new BadRequestError("DESTINATION_KIND_CHANGED", "A destination's kind cannot change", [
        { path: "body.kind", code: "DESTINATION_KIND_CHANGED", message: `must stay ${existing.kind}` },
      ]);
    }
    checkBucket(body);
    await checkSegments(req.tenantId, datasetId, body.segments);
    if (body.webhook) await checkUrl(body.webhook.url);
    const record: DestinationRecord = {
      ...ref,
      name: body.name,
      kind: body.kind,
      segments: body.segments,
      includeOptedOut: body.includeOptedOut,
      status: existing.status,
      ...(existing.disabledReason ? { disabledReason: existing.disabledReason } : {}),
      ...(existing.disabledAt ? { disabledAt: existing.disabledAt } : {}),
      consecutiveFailures: existing.consecutiveFailures,
      createdAt: existing.createdAt,
      updatedAt: now().toISOString(),
      ...configOf(body, existing.webhook),
    };
    if (!(await destinations.replaceDestination(record)))
      throw new NotFoundError("DESTINATION_NOT_FOUND", `Destination ${destinationId} does not exist`);
    return { status: 200, body: destinationView(record) };
  };

  const deleteDestination = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, destinationId } = parseWith(oneDestinationParams, req.params, "path");
    const ref = { tenantId: req.tenantId, datasetId, destinationId };
    await requireDataset(req.tenantId, datasetId);
    const deleted = await destinations.deleteDestination(ref);
    if (!deleted)
      throw new NotFoundError("DESTINATION_NOT_FOUND", `Destination ${destinationId} does not exist`);
    // The record is gone first, so no delivery starts with a secret or payload deleted below.
    await deps.blobs.delete(deleted.payloadKeys);
    const webhook = deleted.destination.webhook;
    for (const secretRef of [webhook?.secretRef, webhook?.previousSecretRef]) {
      if (secretRef) await secrets.delete(secretRef);
    }
    return { status: 204 };
  };

  const rotateDestinationSecret = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, destinationId } = parseWith(oneDestinationParams, req.params, "path");
    const ref = { tenantId: req.tenantId, datasetId, destinationId };
    await requireDataset(req.tenantId, datasetId);
    const existing = await requireDestination(ref);
    if (!existing.webhook) {
      throw new ConflictError("NOT_A_WEBHOOK", "Only a webhook destination has a signing secret");
    }
    const at = now();
    const secret = newWebhookSecret();
    const secretRef = await secrets.create(secretName(ref), secret);
    const record: DestinationRecord = {
      ...existing,
      updatedAt: at.toISOString(),
      webhook: {
        url: existing.webhook.url,
        secretRef,
        rotatedAt: at.toISOString(),
        previousSecretRef: existing.webhook.secretRef,
        previousSecretUntil: new Date(at.getTime() + ROTATION_GRACE_MS).toISOString(),
      },
    };
    if (!(await destinations.replaceDestination(record))) {
      await secrets.delete(secretRef);
      throw new NotFoundError("DESTINATION_NOT_FOUND", `Destination ${destinationId} does not exist`);
    }
    // A secret two rotations old signs nothing any more: a second rotation ends the first one's grace.
    if (existing.webhook.previousSecretRef) await secrets.delete(existing.webhook.previousSecretRef);
    return { status: 200, body: { ...destinationView(record), secret } };
  };

  const enableDestination = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, destinationId } = parseWith(oneDestinationParams, req.params, "path");
    const ref = { tenantId: req.tenantId, datasetId, destinationId };
    await requireDataset(req.tenantId, datasetId);
    await requireDestination(ref);
    const ok = await destinations.updateDestinationState(ref, {
      status: "enabled",
      disabledReason: undefined,
      disabledAt: undefined,
      consecutiveFailures: 0,
      updatedAt: now().toISOString(),
    });
    if (!ok) throw new NotFoundError("DESTINATION_NOT_FOUND", `Destination ${destinationId} does not exist`);
    const record = await requireDestination(ref);
    // Deliveries left pending while it was disabled go out now.
    if (record.kind === "webhook") await deps.deliveryQueue.notify(ref);
    return { status: 200, body: destinationView(record) };
  };

  const listDestinationDeliveries = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, destinationId } = parseWith(oneDestinationParams, req.params, "path");
    const query = parseWith(deliveriesQuery, req.query ?? {}, "query");
    const ref = { tenantId: req.tenantId, datasetId, destinationId };
    await requireDataset(req.tenantId, datasetId);
    await requireDestination(ref);
    const scope = `deliveries:${req.tenantId}:${datasetId}:${destinationId}`;
    const attemptsScope = `attempts:${req.tenantId}:${datasetId}:${destinationId}`;
    const after = query.cursor ? String(cursors.decode(scope, query.cursor)) : undefined;
    const attemptsAfter = query.attemptsCursor
      ? String(cursors.decode(attemptsScope, query.attemptsCursor))
      : undefined;
    const [outbox, attempts] = await Promise.all([
      destinations.listDeliveries(ref, query.limit, after),
      destinations.listAttempts(ref, query.limit, attemptsAfter),
    ]);
    return {
      status: 200,
      body: {
        datasetId,
        destinationId,
        deliveries: outbox.items.map(({ payloadKey: _key, ...rest }) => rest),
        nextCursor: outbox.next ? cursors.encode(scope, outbox.next) : null,
        attempts: attempts.items,
        nextAttemptsCursor: attempts.next ? cursors.encode(attemptsScope, attempts.next) : null,
      },
    };
  };

  return {
    createDestination,
    listDestinations,
    getDestination,
    putDestination,
    deleteDestination,
    rotateDestinationSecret,
    enableDestination,
    listDestinationDeliveries,
  };
}
