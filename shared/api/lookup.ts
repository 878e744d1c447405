/**
 * Core function of the lookup route, one customer (a segment's member pages are read from S3 by the read
 * function: ./members.ts). It answers as the contract (./contract) describes it, with the error codes and
 * validation details of every other route, and is built for the lookup function's small bundle: its checks of
 * the path parameters and of the store's items are written out in ./lookup-checks (no schema library), with
 * the codes and English messages zod gives every other route. And for
 * a warm function's speed: the dataset's committed version, an item that grows with the segments, is read
 * and parsed whole once per version and afterwards only by its reference (KnownVersions below).
 */
import type { ServedValueModel } from "../engine/clv/served";
import { NotFoundError, ValidationError } from "../errors";
import type { ApiRequest, ApiResult, RouteHandler } from "../http/api";
import type { Where } from "../http/validation";
import { parseServedValue, servedViewOf } from "../pipeline/served-view";
import type { RouteId } from "../routes";
import type { Item, MetaPart } from "../store/lookup";
import { customerAnswer } from "./customer-answer";
import {
  type CustomerParams,
  customerParams,
  issuesToDetails,
  parseStored,
  run,
  type StoredVersion,
  type StoredView,
  storedMeta,
  storedView,
} from "./lookup-checks";

/** A committed version as the lookups use it, with its served value model parsed (null: none). */
type Current = StoredVersion & { served: ServedValueModel | null };

/** The reads the lookup routes need (DynamoLookupStore in ../store/lookup). */
export interface LookupStore {
  /** The dataset's META item (whole, or only its committed version's reference: MetaPart). */
  getDatasetItem(tenantId: string, datasetId: string, part?: MetaPart): Promise<Item | undefined>;
  /** The META item (as `part` says) and the customer's view as of its committed version, in one read. */
  getCustomerItems(
    tenantId: string,
    datasetId: string,
    customerId: string,
    part?: MetaPart,
  ): Promise<{ meta: Item | undefined; view: unknown }>;
}

export interface LookupDeps {
  store: LookupStore;
}

function parseWith<T>(check: typeof customerParams, value: unknown, where: Where): T {
  const parsed = run<T>(check, value);
  if (!parsed.ok) {
    throw new ValidationError(`The request ${where} is invalid`, issuesToDetails(where, parsed.issues));
  }
  return parsed.value;
}

/**
 * The committed version of a dataset's META item, its served value model parsed (once per version: the
 * result is kept, KnownVersions below); 404 when there is no dataset or no completed run.
 */
export function parseCurrent(meta: Item | undefined, datasetId: string): Current {
  if (!meta) throw new NotFoundError("DATASET_NOT_FOUND", `Dataset ${datasetId} does not exist`);
  const { current } = parseStored<{ current?: StoredVersion }>(storedMeta, meta);
  if (!current) throw new NotFoundError("DATASET_NOT_READY", `Dataset ${datasetId} has no completed run yet`);
  return { ...current, served: parseServedValue(current.servedValue) };
}

/** A customer's stored view, as far as the answer reads it. */
export function parseView(view: unknown): StoredView {
  return parseStored<StoredView>(storedView, view);
}

/** Datasets whose committed version a warm function keeps parsed; past this, the least recently stored goes. */
export const KNOWN_VERSIONS = 256;

/**
 * The committed versions this function has read, parsed, by tenant and dataset. A version is named by its
 * `version` and `runId` and never changes once committed (MetaPart in ../store/lookup), so a read that finds
 * the same reference in META may use the parsed copy; any other reference (a newer commit, or none) is
 * read whole again. Nothing is served from here that the read did not just confirm.
 */
class KnownVersions {
  private readonly byDataset = new Map<string, Current>();

  /** The parsed version that `meta` (whole or its reference) names, if this function holds it. */
  match(tenantId: string, datasetId: string, meta: Item | undefined): Current | undefined {
    const ref = meta?.current as { version?: unknown; runId?: unknown } | undefined;
    const known = this.byDataset.get(`${tenantId}/${datasetId}`);
    return known && ref?.version === known.version && ref?.runId === known.runId ? known : undefined;
  }

  remember(tenantId: string, datasetId: string, current: Current): void {
    const key = `${tenantId}/${datasetId}`;
    this.byDataset.delete(key);
    this.byDataset.set(key, current);
    if (this.byDataset.size > KNOWN_VERSIONS) {
      const oldest = this.byDataset.keys().next().value;
      if (oldest !== undefined) this.byDataset.delete(oldest);
    }
  }
}

export function lookupRoutes(deps: LookupDeps): Partial<Record<RouteId, RouteHandler>> {
  const { store } = deps;
  const known = new KnownVersions();

  /** The committed version of `meta` as read whole: parsed, and kept for the reads that name it next. */
  const parseWhole = (tenantId: string, datasetId: string, meta: Item | undefined): Current => {
    const current = parseCurrent(meta, datasetId);
    known.remember(tenantId, datasetId, current);
    return current;
  };

  /**
   * The customer's view and the version it belongs to. One transaction reads the customer with META's
   * reference only; when this function does not hold the version it names, the transaction is made again
   * with META whole (the pair of a read must come from one transaction, so the view is taken from it too).
   */
  const customerAt = async (tenantId: string, datasetId: string, customerId: string) => {
    const items = await store.getCustomerItems(tenantId, datasetId, customerId, "ref");
    const current = known.match(tenantId, datasetId, items.meta);
    if (current) return { current, view: items.view };
    // No dataset or no committed version: the answer is the same whole or not.
    if (!(items.meta?.current as object | undefined)) return { current: parseCurrent(items.meta, datasetId) };
    const whole = await store.getCustomerItems(tenantId, datasetId, customerId, "whole");
    return { current: parseWhole(tenantId, datasetId, whole.meta), view: whole.view };
  };

  const getCustomer = async (req: ApiRequest): Promise<ApiResult> => {
    const { datasetId, customerId } = parseWith<CustomerParams>(customerParams, req.params, "path");
    const { current, view: stored } = await customerAt(req.tenantId, datasetId, customerId);
    if (stored === undefined)
      throw new NotFoundError("CUSTOMER_NOT_FOUND", "No such customer in this dataset");
    // The stored view with the predictions of the version's served model (../pipeline/served-view).
    const view = servedViewOf(parseView(stored), current.served, current.asOf);
    return { status: 200, body: customerAnswer(datasetId, customerId, current, view) };
  };

  return { getCustomer };
}
