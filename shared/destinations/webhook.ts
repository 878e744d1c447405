/**
 * Webhook signing as the Standard Webhooks specification describes it, and the retry schedule of webhook
 * deliveries. Pure: no network, no clock of its own.
 *
 * - A secret is `whsec_` followed by the base64 of 32 random bytes; the HMAC key is those bytes.
 * - The signed content is `${webhookId}.${timestampSeconds}.${body}`; the signature is HMAC-SHA256, sent as
 *   `v1,<base64>` in the `webhook-signature` header. During a secret rotation's grace period the header
 *   carries one signature per secret, separated by a space (new secret first), so a receiver holding either
 *   secret verifies the delivery.
 */
import { createHmac, randomBytes } from "node:crypto";

export const SECRET_PREFIX = "whsec_";

/** A fresh signing secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(bytes: (n: number) => Uint8Array = randomBytes): string {
  return SECRET_PREFIX + Buffer.from(bytes(32)).toString("base64");
}

/** The HMAC key of a secret: the bytes its base64 part encodes. */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error("A webhook secret starts with whsec_");
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), "base64");
  if (key.length < 24) throw new Error("A webhook secret carries at least 24 bytes");
  return key;
}

/** One `v1,<base64>` signature of a message. */
export function signature(secret: string, webhookId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac("sha256", secretKey(secret))
    .update(`${webhookId}.${timestampSeconds}.${body}`, "utf8")
    .digest("base64");
  return `v1,${mac}`;
}

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
  "content-type": string;
}

/**
 * The headers of one delivery attempt. `secrets` lists the current secret first, then the previous one
 * while its rotation grace lasts.
 */
export function signedHeaders(
  secrets: readonly string[],
  webhookId: string,
  at: Date,
  body: string,
): SignedHeaders {
  if (secrets.length === 0) throw new Error("A delivery is signed with at least one secret");
  const seconds = Math.floor(at.getTime() / 1000);
  return {
    "webhook-id": webhookId,
    "webhook-timestamp": String(seconds),
    "webhook-signature": secrets.map((s) => signature(s, webhookId, seconds, body)).join(" "),
    "content-type": "application/json",
  };
}

/** How long the previous secret still signs after a rotation. */
export const ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * The default retry schedule in seconds: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (27 h 35 min 5 s in all).
 */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [5, 300, 1800, 7200, 18000, 36000, 36000];

/**
 * The schedule from `DELIVERY_RETRY_SCHEDULE` (a comma list of positive seconds, decimals allowed), or the
 * default when it is unset or blank. A malformed list is an error naming the variable.
 */
export function retrySchedule(value: string | undefined): number[] {
  if (value === undefined || value.trim() === "") return [...DEFAULT_RETRY_SCHEDULE];
  const steps = value.split(",").map((s) => Number(s.trim()));
  if (steps.length === 0 || steps.some((s) => !Number.isFinite(s) || s <= 0)) {
    throw new Error("DELIVERY_RETRY_SCHEDULE: a comma list of positive numbers of seconds");
  }
  return steps;
}

/** The time a delivery keeps being retried: the whole schedule, measured from its first attempt. */
export function retryWindowMs(schedule: readonly number[]): number {
  return Math.round(schedule.reduce((sum, s) => sum + s, 0) * 1000);
}

/**
 * What follows a failed attempt: the delay before the next one, or "exhausted".
 *
 * Attempt n (1-based) that failed waits a random time between 0 and the schedule's n-th step (full jitter;
 * each step is the cap of an exponential backoff, and the last step repeats). The delivery is exhausted
 * once an attempt fails after every step has been used AND the whole schedule's time has passed since its
 * first attempt, so jitter never shortens the time a receiver has to recover below the schedule's sum.
 */
export function nextRetry(
  schedule: readonly number[],
  attempts: number,
  firstAttemptAt: number,
  now: number,
  random: () => number,
): { delayMs: number } | "exhausted" {
  if (schedule.length === 0) return "exhausted";
  if (attempts > schedule.length && now - firstAttemptAt >= retryWindowMs(schedule)) return "exhausted";
  const cap = (schedule[Math.min(attempts, schedule.length) - 1] ?? 0) * 1000;
  const r = Math.min(Math.max(random(), 0), 1);
  // Never later than the end of the window by more than one step, and never a busy loop of zero delays.
  return { delayMs: Math.max(Math.floor(r * cap), Math.min(cap, 50)) };
}
