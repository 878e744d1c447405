/**
 * The webhook delivery worker: sends a destination's outbox, one delivery at a time, strictly in sequence
 * (run) order, and keeps the outbox, the attempt log and the destination's state up to date.
 *
 * - One worker per destination at a time: a pass starts by taking the destination's delivery lease (a
 *   conditional update) and renews it before every request; a worker that cannot take it leaves.
 * - Every attempt of a delivery carries the same `webhook-id`; the body is the stored payload object, signed
 *   with the current secret (and the previous one during a rotation's grace period).
 * - Before every attempt the URL is checked again by the SSRF guard and the request goes to the address it
 *   checked. Each attempt has 10 s for a full answer; a 2xx is delivered, anything else (a 3xx, 4xx, 5xx, a
 *   network error, a timeout, an address refused) is a failed attempt, retried on the schedule
 *   (webhook.ts: full jitter under each step's cap, over the whole schedule's time from the first attempt).
 *   A delivery waiting for its retry holds back every later one (run order).
 * - A delivery whose schedule is exhausted is `failed`, and its destination is disabled with the reason
 *   "delivery <webhookId> failed every attempt from <first> to <last>". A disabled destination sends nothing;
 *   new deliveries queue up behind it. POST …/enable sets it enabled again and wakes the worker, which
 *   sends what waits, in order; the failed delivery stays failed, in the outbox and the attempt log.
 * - The attempt log records time, webhook id, sequence, attempt, status code, latency and an error text of
 *   the service's own words (never the body, the response, or a customer id).
 *
 * `sweepDeliveries` is the schedule: it visits every destination marked as having deliveries waiting (in
 * every dataset), sends what is due, and removes the mark once nothing waits.
 */
import { randomUUID } from "node:crypto";
import { errorFields, logger } from "../logger";
import type { BlobStore } from "../pipeline/ports";
import type { DeliveryAttempt, DeliveryRecord, DestinationRecord, DestinationRef } from "./model";
import type { DestinationStore, SecretStore } from "./ports";
import { sendWebhook, type WebhookSender } from "./send";
import { type Resolver, systemResolver, UnsafeUrlError, type UrlPolicy, vetUrl } from "./ssrf";
import { nextRetry, signedHeaders } from "./webhook";

/** How long one attempt may take for a full answer. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Lease on a destination: one attempt's timeout and room for the bookkeeping around it. */
const LEASE_MS = DELIVERY_TIMEOUT_MS + 20_000;
/** Pending deliveries read at a time. */
const PAGE = 25;

export interface DeliveryDeps {
  destinations: DestinationStore;
  secrets: Pick<SecretStore, "get">;
  blobs: Pick<BlobStore, "get">;
  policy: UrlPolicy;
  /** Retry schedule in seconds (webhook.ts `retrySchedule`). */
  schedule: readonly number[];
  resolve?: Resolver;
  send?: WebhookSender;
  /** Uniform in [0, 1): the jitter's random source. */
  random?: () => number;
  /** Epoch ms; the worker's clock for latency and the times it records. */
  clock?: () => number;
  timeoutMs?: number;
  /** Stop starting new attempts once this returns true (a Lambda's remaining time running short). */
  outOfTime?: () => boolean;
}

export interface DeliveryPass {
  outcome: "sent" | "missing" | "not-webhook" | "disabled" | "busy";
  delivered: number;
  retried: number;
  failed: number;
  /** Pending deliveries remain (due later, or left for lack of time). */
  pending: boolean;
  /** Deliveries are due now but the pass stopped for lack of time. */
  more: boolean;
}

const empty = (outcome: DeliveryPass["outcome"], pending = false): DeliveryPass => ({
  outcome,
  delivered: 0,
  retried: 0,
  failed: 0,
  pending,
  more: false,
});

/** The reason a destination is disabled when a delivery fails every attempt. */
export function disabledReasonFor(webhookId: string, first: string, last: string): string {
  return `delivery ${webhookId} failed every attempt from ${first} to ${last}`;
}

/** Short error text in the service's own words: the error's code, or a bounded message of ours. */
function errorText(error: unknown): string {
  if (error instanceof UnsafeUrlError) return `${error.code}: ${error.message}`;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") return code;
  if (error instanceof Error && /^No answer within/.test(error.message)) return "TIMEOUT";
  return error instanceof Error ? error.name : "ERROR";
}

/**
 * One pass over a destination: sends its due deliveries in order until one fails, none is due, or time
 * runs out. Returns what it did; throws only when the store itself fails.
 */
export async function deliverDestination(
  deps: DeliveryDeps,
  ref: DestinationRef,
  now: number,
): Promise<DeliveryPass> {
  const clock = deps.clock ?? Date.now;
  const destination = await deps.destinations.getDestination(ref);
  if (!destination) return empty("missing");
  if (destination.kind !== "webhook" || !destination.webhook) return empty("not-webhook");
  if (destination.status === "disabled") return empty("disabled", true);

  const owner = randomUUID();
  if (!(await deps.destinations.acquireDeliveryLease(ref, owner, LEASE_MS, now))) return empty("busy", true);
  const pass: DeliveryPass = empty("sent");
  try {
    for (;;) {
      const pending = await deps.destinations.listPendingDeliveries(ref, PAGE);
      if (pending.length === 0) return pass;
      for (const delivery of pending) {
        const at = Math.max(now, clock());
        if (delivery.nextAttemptAt > at) {
          pass.pending = true;
          return pass;
        }
        if (deps.outOfTime?.()) {
          pass.pending = true;
          pass.more = true;
          return pass;
        }
        // Renewing the lease also proves it is still ours; a worker that lost it stops.
        if (!(await deps.destinations.acquireDeliveryLease(ref, owner, LEASE_MS, at))) {
          pass.pending = true;
          return pass;
        }
        const result = await attempt(deps, ref, destination, delivery, at);
        if (result === "delivered") {
          pass.delivered++;
          continue;
        }
        // A failed delivery disables the destination; what waits behind it stays pending until enabled.
        pass.pending = true;
        if (result === "retry") pass.retried++;
        else pass.failed++;
        return pass;
      }
    }
  } finally {
    await deps.destinations.releaseDeliveryLease(ref, owner).catch((error) => {
      logger.warn("Delivery lease not released", { destinationId: ref.destinationId, ...errorFields(error) });
    });
  }
}

/** The secrets that sign now: the current one, then the previous one while its grace lasts. */
async function signingSecrets(
  deps: DeliveryDeps,
  webhook: NonNullable<DestinationRecord["webhook"]>,
  at: number,
): Promise<string[]> {
  const secrets = [await deps.secrets.get(webhook.secretRef)];
  if (
    webhook.previousSecretRef &&
    webhook.previousSecretUntil &&
    Date.parse(webhook.previousSecretUntil) > at
  ) {
    const previous = await deps.secrets.get(webhook.previousSecretRef).catch(() => undefined);
    if (previous) secrets.push(previous);
  }
  return secrets;
}

async function attempt(
  deps: DeliveryDeps,
  ref: DestinationRef,
  destination: DestinationRecord,
  delivery: DeliveryRecord,
  at: number,
): Promise<"delivered" | "retry" | "failed"> {
  const clock = deps.clock ?? Date.now;
  const webhook = destination.webhook as NonNullable<DestinationRecord["webhook"]>;
  const number = delivery.attempts + 1;
  const firstAttemptAt = delivery.firstAttemptAt ?? new Date(at).toISOString();
  let statusCode: number | undefined;
  let error: string | undefined;
  const started = clock();
  try {
    const body = await deps.blobs.get(delivery.payloadKey);
    if (body === undefined) throw Object.assign(new Error("payload gone"), { code: "PAYLOAD_MISSING" });
    const text = Buffer.from(body).toString("utf8");
    const secrets = await signingSecrets(deps, webhook, at);
    const target = await vetUrl(webhook.url, deps.policy, deps.resolve ?? systemResolver);
    const headers = signedHeaders(secrets, delivery.webhookId, new Date(clock()), text);
    const answer = await (deps.send ?? sendWebhook)(
      target,
      { ...headers },
      text,
      deps.timeoutMs ?? DELIVERY_TIMEOUT_MS,
    );
    statusCode = answer.statusCode;
    if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`;
  } catch (caught) {
    error = errorText(caught);
  }
  const ended = clock();
  const latencyMs = Math.max(0, ended - started);
  const endedIso = new Date(Math.max(ended, at)).toISOString();
  const base = {
    ...delivery,
    attempts: number,
    firstAttemptAt,
    ...(statusCode !== undefined ? { lastStatusCode: statusCode } : {}),
  };
  const log = (outcome: DeliveryAttempt["outcome"]): DeliveryAttempt => ({
    at: endedIso,
    webhookId: delivery.webhookId,
    seq: delivery.seq,
    attempt: number,
    ...(statusCode !== undefined ? { statusCode } : {}),
    latencyMs,
    outcome,
    ...(error !== undefined ? { error } : {}),
  });

  if (error === undefined) {
    const { lastError: _dropped, ...rest } = base;
    await deps.destinations.updateDelivery(ref, { ...rest, status: "delivered" });
    await deps.destinations.appendAttempt(ref, log("delivered"));
    if (destination.consecutiveFailures !== 0) {
      await deps.destinations.updateDestinationState(ref, { consecutiveFailures: 0, updatedAt: endedIso });
      destination.consecutiveFailures = 0;
    }
    return "delivered";
  }

  const failures = destination.consecutiveFailures + 1;
  destination.consecutiveFailures = failures;
  const next = nextRetry(
    deps.schedule,
    number,
    Date.parse(firstAttemptAt),
    Math.max(ended, at),
    deps.random ?? Math.random,
  );
  if (next === "exhausted") {
    await deps.destinations.updateDelivery(ref, { ...base, status: "failed", lastError: error });
    await deps.destinations.appendAttempt(ref, log("failed"));
    const reason = disabledReasonFor(delivery.webhookId, firstAttemptAt, endedIso);
    await deps.destinations.updateDestinationState(ref, {
      status: "disabled",
      disabledReason: reason,
      disabledAt: endedIso,
      consecutiveFailures: failures,
      updatedAt: endedIso,
    });
    logger.warn("Webhook destination disabled", {
      destinationId: ref.destinationId,
      webhookId: delivery.webhookId,
      attempts: number,
    });
    return "failed";
  }
  await deps.destinations.updateDelivery(ref, {
    ...base,
    status: "pending",
    nextAttemptAt: Math.max(ended, at) + next.delayMs,
    lastError: error,
  });
  await deps.destinations.appendAttempt(ref, log("retry"));
  await deps.destinations.updateDestinationState(ref, { consecutiveFailures: failures, updatedAt: endedIso });
  return "retry";
}

export interface SweepReport {
  destinations: number;
  delivered: number;
  retried: number;
  failed: number;
  errors: number;
}

/**
 * The schedule's pass over every destination with deliveries waiting, in every dataset: sends what is due
 * and removes the mark of a destination with nothing left to send. A destination whose pass fails is
 * counted and visited again at the next sweep.
 */
export async function sweepDeliveries(deps: DeliveryDeps, now: number): Promise<SweepReport> {
  const report: SweepReport = { destinations: 0, delivered: 0, retried: 0, failed: 0, errors: 0 };
  for (const marker of await deps.destinations.listPendingMarkers()) {
    if (deps.outOfTime?.()) break;
    report.destinations++;
    const ref = {
      tenantId: marker.tenantId,
      datasetId: marker.datasetId,
      destinationId: marker.destinationId,
    };
    try {
      const pass = await deliverDestination(deps, ref, Math.max(now, (deps.clock ?? Date.now)()));
      report.delivered += pass.delivered;
      report.retried += pass.retried;
      report.failed += pass.failed;
      const idle =
        pass.outcome === "missing" ||
        pass.outcome === "not-webhook" ||
        (pass.outcome === "sent" && !pass.pending) ||
        (pass.outcome === "disabled" && (await deps.destinations.listPendingDeliveries(ref, 1)).length === 0);
      if (idle) await deps.destinations.unmarkPending(marker);
    } catch (error) {
      report.errors++;
      logger.error("Delivery pass failed", { destinationId: ref.destinationId, ...errorFields(error) });
    }
  }
  return report;
}
