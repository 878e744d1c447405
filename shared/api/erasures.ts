/**
 * Erasure routes: erase one customer from a dataset, and follow the erasure. The request is recorded with an
 * HMAC of the customer id under the dataset's erasure key, and with the id itself until the erasure
 * completes; the event that hands it to the refresh function names only the record (see
 * shared/pipeline/erase.ts for what the erasure removes). Later uploads of the dataset leave a customer with
 * a recorded hash out from then on, even before the erasure itself has run.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { NotFoundError } from "../errors";
import { DETAIL_TYPES } from "../events";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import { parseWith } from "../http/validation";
import { customerIdSchema, datasetIdSchema, type ErasureRecord, ZERO_ERASURE_COUNTS } from "../model";
import type { EventPublisher, UploadErasureStore } from "../pipeline/ports";
import { customerHash } from "../pipeline/scrub";
import type { RouteId } from "../routes";

export interface ErasureDeps {
  store: UploadErasureStore;
  events: EventPublisher;
  now?: () => Date;
}

export const eraseParams = z.object({ datasetId: datasetIdSchema, customerId: customerIdSchema });
export const erasureParams = z.object({ datasetId: datasetIdSchema, erasureId: z.uuid() });

/** An erasure as the API shows it: no tenant, no hash, no customer id. */
export function erasureBody(erasure: ErasureRecord) {
  const { tenantId: _tenant, customerHash: _hash, customerId: _id, ...rest } = erasure;
  return rest;
}

export function erasureRoutes(deps: ErasureDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store, events } = deps;
  const now = deps.now ?? (() => new Date());

  const eraseCustomer = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, customerId } = parseWith(eraseParams, req.params, "path");
    const salt = await store.ensureErasureSalt(req.tenantId, datasetId);
    if (salt === undefined)
      throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
    const erasure: ErasureRecord = {
      tenantId: req.tenantId,
      datasetId,
      erasureId: randomUUID(),
      requestedAt: now().toISOString(),
      status: "requested",
      customerHash: customerHash(salt, customerId),
      customerId,
      counts: { ...ZERO_ERASURE_COUNTS },
    };
    // Recorded first: from here on, uploads leave the customer out, whatever happens to the event.
    await store.putErasure(erasure);
    await events.publish([
      {
        detailType: DETAIL_TYPES.erasureRequested,
        detail: { tenantId: req.tenantId, datasetId, erasureId: erasure.erasureId },
      },
    ]);
    return { status: 202, body: erasureBody(erasure) };
  };

  const getErasure = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, erasureId } = parseWith(erasureParams, req.params, "path");
    const found = await store.getErasure(req.tenantId, datasetId, erasureId);
    if (!found) throw new NotFoundError("ERASURE_NOT_FOUND", `Erasure ${erasureId} does not exist`);
    return { status: 200, body: erasureBody(found) };
  };

  return { eraseCustomer, getErasure };
}
