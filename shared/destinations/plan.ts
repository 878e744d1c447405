/**
 * What a committed run owes the dataset's destinations, worked out right after the run is announced.
 *
 * - A webhook destination gets one delivery per followed segment the run changed, per at most
 *   MAX_IDS_PER_DELIVERY ids: the ids that entered, then those that left, cut into parts 1..parts in that
 *   order. Each delivery's JSON body is written to the service bucket first, then the deliveries are
 *   appended to the destination's outbox (in segment order, so the outbox holds runs in commit order), then
 *   the delivery worker is woken. A run that changed none of its segments gives it nothing.
 * - An s3 or audience destination gets each followed segment's full member list (or audience file) and a
 *   manifest, written after every committed run (./member-files.ts).
 * - Customers who opted out (./contacts.ts) are left out of both unless the destination says
 *   `includeOptedOut`.
 * - A disabled webhook destination still gets its deliveries in the outbox, unsent and without a wake-up:
 *   they go out in run order once POST …/enable enables it (./deliver.ts). Disabled s3 and audience
 *   destinations get no files.
 *
 * Nothing here fails the run: it has committed. A failure for one destination is logged (names and counts,
 * never ids) and the others are still served.
 */
import { errorFields, logger } from "../logger";
import type { RunRecord } from "../model";
import type { MemberPages } from "../pipeline/member-pages";
import type { BlobStore, MembershipWrite } from "../pipeline/ports";
import { deliveryPayloadKey } from "../store/keys";
import type { Contacts } from "./contacts";
import { committedMembers, type ExternalBucketWriter, writeMemberFiles } from "./member-files";
import {
  type DestinationRecord,
  MAX_IDS_PER_DELIVERY,
  type MembershipChangedPayload,
  type NewDelivery,
  webhookIdFor,
} from "./model";
import type { DeliveryQueue, DestinationStore } from "./ports";

export interface PlanDeps {
  destinations: DestinationStore;
  /** The service bucket, where delivery bodies wait; and the line record of files written. */
  blobs: Pick<BlobStore, "put" | "get" | "list">;
  /** Member pages of the committed version, which member files are written from. */
  members: Pick<MemberPages, "all">;
  /** Wakes the delivery worker; without one deliveries wait for the sweep. */
  deliveryQueue?: DeliveryQueue;
  /** Writes s3 and audience files; without one those destinations get nothing. */
  files?: ExternalBucketWriter;
  now?: () => Date;
}

export interface PlanInput {
  run: RunRecord;
  memberships: readonly MembershipWrite[];
  contacts: Contacts;
  /**
   * The run may have been planned before, wholly or in part (its process died while planning): a delivery
   * of the same segment and part that the outbox already holds for the run is left out. A delivery's
   * webhook id is the same on every planning of a run (webhookIdFor).
   */
  replay?: boolean;
}

/** What planning did, counted. */
export interface PlanSummary {
  deliveriesEnqueued: number;
  filesWritten: number;
  failedDestinations: number;
}

interface SegmentChange {
  entered: string[];
  left: string[];
}

/** Entered and left ids per segment; writes that change nothing (a repair's rewrite) are not changes. */
export function changesBySegment(memberships: readonly MembershipWrite[]): Map<string, SegmentChange> {
  const out = new Map<string, SegmentChange>();
  for (const w of memberships) {
    if (w.member === w.previous) continue;
    let change = out.get(w.segmentId);
    if (!change) {
      change = { entered: [], left: [] };
      out.set(w.segmentId, change);
    }
    (w.member ? change.entered : change.left).push(w.customerId);
  }
  for (const change of out.values()) {
    change.entered.sort();
    change.left.sort();
  }
  return out;
}

/** The bodies of one segment's change, at most `maxIds` ids each: entered first, then left. */
export function webhookBodies(
  run: RunRecord,
  segmentId: string,
  segmentName: string,
  change: SegmentChange,
  timestamp: string,
  maxIds = MAX_IDS_PER_DELIVERY,
): MembershipChangedPayload[] {
  const all = [
    ...change.entered.map((id) => [true, id] as const),
    ...change.left.map((id) => [false, id] as const),
  ];
  const parts = Math.ceil(all.length / maxIds);
  const bodies: MembershipChangedPayload[] = [];
  for (let p = 0; p < parts; p++) {
    const slice = all.slice(p * maxIds, (p + 1) * maxIds);
    bodies.push({
      type: "segment.membership.changed",
      timestamp,
      data: {
        tenantId: run.tenantId,
        datasetId: run.datasetId,
        runId: run.runId,
        version: run.version ?? 0,
        asOf: run.asOf ?? "",
        segmentId,
        segmentName,
        part: p + 1,
        parts,
        entered: slice.filter(([entered]) => entered).map(([, id]) => id),
        left: slice.filter(([entered]) => !entered).map(([, id]) => id),
      },
    });
  }
  return bodies;
}

/** A change without the opted-out customers. */
function withoutOptedOut(change: SegmentChange, contacts: Contacts): SegmentChange {
  return {
    entered: change.entered.filter((id) => !contacts.optedOut(id)),
    left: change.left.filter((id) => !contacts.optedOut(id)),
  };
}

async function planWebhook(
  deps: PlanDeps,
  destination: DestinationRecord,
  input: PlanInput,
  changes: Map<string, SegmentChange>,
  names: Map<string, string>,
  timestamp: string,
): Promise<number> {
  const ref = {
    tenantId: destination.tenantId,
    datasetId: destination.datasetId,
    destinationId: destination.destinationId,
  };
  const deliveries: NewDelivery[] = [];
  const bodies: Array<{ key: string; text: string }> = [];
  const planned = input.replay ? await plannedFor(deps, ref, input.run) : undefined;
  for (const segmentId of [...destination.segments].sort()) {
    const raw = changes.get(segmentId);
    if (!raw) continue;
    const change = destination.includeOptedOut ? raw : withoutOptedOut(raw, input.contacts);
    if (change.entered.length === 0 && change.left.length === 0) continue;
    for (const body of webhookBodies(
      input.run,
      segmentId,
      names.get(segmentId) ?? segmentId,
      change,
      timestamp,
    )) {
      const webhookId = webhookIdFor(ref.destinationId, input.run.runId, segmentId, body.data.part);
      if (planned?.has(`${segmentId}\n${body.data.part}`)) continue;
      const key = deliveryPayloadKey(ref.tenantId, ref.datasetId, ref.destinationId, webhookId);
      bodies.push({ key, text: JSON.stringify(body) });
      deliveries.push({
        webhookId,
        runId: input.run.runId,
        version: input.run.version ?? 0,
        segmentId,
        part: body.data.part,
        parts: body.data.parts,
        payloadKey: key,
        status: "pending",
        attempts: 0,
        nextAttemptAt: Date.parse(timestamp),
        createdAt: timestamp,
        entered: body.data.entered.length,
        left: body.data.left.length,
      });
    }
  }
  if (deliveries.length === 0) return 0;
  // Bodies first: the worker never meets an outbox entry whose body is not there.
  for (const body of bodies) await deps.blobs.put(body.key, body.text, "application/json");
  await deps.destinations.enqueueDeliveries(ref, deliveries);
  if (deps.deliveryQueue && destination.status === "enabled") await deps.deliveryQueue.notify(ref);
  return deliveries.length;
}

/**
 * The segment and part ("<segment>\n<part>") of every delivery the outbox holds for the run. The outbox is read newest first and in run order, so the
 * reading stops at the first page that reaches a delivery of an earlier version.
 */
async function plannedFor(
  deps: PlanDeps,
  ref: { tenantId: string; datasetId: string; destinationId: string },
  run: RunRecord,
): Promise<Set<string>> {
  const ids = new Set<string>();
  const version = run.version ?? 0;
  let after: string | undefined;
  for (;;) {
    const page = await deps.destinations.listDeliveries(ref, 100, after);
    let older = false;
    for (const delivery of page.items) {
      if (delivery.runId === run.runId) ids.add(`${delivery.segmentId}\n${delivery.part}`);
      else if (delivery.version < version) older = true;
    }
    if (older || !page.next) return ids;
    after = page.next;
  }
}

/**
 * The writer of member and audience files for one destination: writeMemberFiles (./member-files.ts), over the
 * committed version's member pages.
 */
export async function writeFilesFor(
  deps: PlanDeps,
  destination: DestinationRecord,
  input: PlanInput,
): Promise<number> {
  if (!deps.files || input.run.version === undefined) return 0;
  const manifest = await writeMemberFiles(
    { files: deps.files, blobs: deps.blobs, ...(deps.now ? { now: deps.now } : {}) },
    destination,
    {
      run: input.run,
      members: committedMembers(deps.members, input.run.tenantId, input.run.datasetId, input.run.version),
      contacts: input.contacts,
    },
  );
  return manifest.files.length;
}

/** Serves the run's dataset's destinations (disabled webhooks queue, unsent); never throws. */
export async function planDeliveries(deps: PlanDeps, input: PlanInput): Promise<PlanSummary> {
  const summary: PlanSummary = { deliveriesEnqueued: 0, filesWritten: 0, failedDestinations: 0 };
  const { run } = input;
  if (run.status !== "succeeded" || run.version === undefined) return summary;
  let all: DestinationRecord[];
  try {
    all = await deps.destinations.listDestinations(run.tenantId, run.datasetId);
  } catch (error) {
    logger.error("Could not list the dataset's destinations after a run", {
      datasetId: run.datasetId,
      runId: run.runId,
      ...errorFields(error),
    });
    summary.failedDestinations = 1;
    return summary;
  }
  const served = all.filter((d) => d.status === "enabled" || d.kind === "webhook");
  if (served.length === 0) return summary;
  const changes = changesBySegment(input.memberships);
  const names = new Map((run.segments ?? []).map((s) => [s.id, s.name]));
  const timestamp = (deps.now ?? (() => new Date()))().toISOString();
  for (const destination of served) {
    try {
      if (destination.kind === "webhook") {
        summary.deliveriesEnqueued += await planWebhook(deps, destination, input, changes, names, timestamp);
      } else {
        summary.filesWritten += await writeFilesFor(deps, destination, input);
      }
    } catch (error) {
      summary.failedDestinations++;
      logger.error("Could not serve a destination after a run", {
        datasetId: run.datasetId,
        runId: run.runId,
        destinationId: destination.destinationId,
        kind: destination.kind,
        ...errorFields(error),
      });
    }
  }
  return summary;
}
