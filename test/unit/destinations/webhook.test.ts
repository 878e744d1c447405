import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY_SCHEDULE,
  newWebhookSecret,
  nextRetry,
  retrySchedule,
  retryWindowMs,
  signature,
  signedHeaders,
} from "../../../shared/destinations/webhook";

// Key bytes 0x00..0x1f. The expected MAC was computed outside the service with
//   printf '%s' 'msg_2Kq.1700000000.{"type":"segment.membership.changed"}' \
//     | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f -binary | base64
const SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const BODY = '{"type":"segment.membership.changed"}';

describe("webhook signing", () => {
  it("signs id.timestamp.body with HMAC-SHA256 of the secret's bytes, as computed by openssl", () => {
    expect(signature(SECRET, "msg_2Kq", 1700000000, BODY)).toBe(
      "v1,s3Nv8xw7gLFTmT5d1VXk67CjLUtBWEB2dvK6lgt/sCI=",
    );
  });

  it("makes secrets of whsec_ and 32 random bytes", () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), "base64")).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it("produces headers the standardwebhooks library verifies, and that fail with another secret or body", () => {
    const secret = newWebhookSecret();
    const now = new Date();
    const headers = signedHeaders([secret], "msg_abc", now, BODY);
    expect(headers["webhook-id"]).toBe("msg_abc");
    expect(headers["webhook-timestamp"]).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(new Webhook(secret).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
    // The library's own signature of the same message is the same string.
    expect(headers["webhook-signature"]).toBe(new Webhook(secret).sign("msg_abc", now, BODY));
    expect(() => new Webhook(newWebhookSecret()).verify(BODY, { ...headers })).toThrow();
    expect(() => new Webhook(secret).verify(`${BODY} `, { ...headers })).toThrow();
  });

  it("signs with both secrets during a rotation, so a receiver holding either one verifies", () => {
    const current = newWebhookSecret();
    const previous = newWebhookSecret();
    const headers = signedHeaders([current, previous], "msg_rot", new Date(), BODY);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(() => new Webhook(current).verify(BODY, { ...headers })).not.toThrow();
    expect(() => new Webhook(previous).verify(BODY, { ...headers })).not.toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(BODY, { ...headers })).toThrow();
  });

  it("refuses a malformed secret", () => {
    expect(() => signature("sk_abc", "m", 1, "{}")).toThrow(/whsec_/);
    expect(() => signature("whsec_AAAA", "m", 1, "{}")).toThrow(/24 bytes/);
  });
});

describe("retry schedule", () => {
  it("defaults to 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: more than 24 hours in all", () => {
    expect(retrySchedule(undefined)).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
    expect(retryWindowMs(DEFAULT_RETRY_SCHEDULE)).toBe(99_305_000);
    expect(retryWindowMs(DEFAULT_RETRY_SCHEDULE)).toBeGreaterThanOrEqual(24 * 3600 * 1000);
  });

  it("reads DELIVERY_RETRY_SCHEDULE and refuses a malformed one", () => {
    expect(retrySchedule("0.5, 1,2")).toEqual([0.5, 1, 2]);
    expect(retrySchedule(" ")).toEqual([...DEFAULT_RETRY_SCHEDULE]);
    expect(() => retrySchedule("1,,2")).toThrow(/DELIVERY_RETRY_SCHEDULE/);
    expect(() => retrySchedule("1,-2")).toThrow(/DELIVERY_RETRY_SCHEDULE/);
    expect(() => retrySchedule("soon")).toThrow(/DELIVERY_RETRY_SCHEDULE/);
  });

  it("waits a uniformly random time up to the attempt's step (full jitter), the last step repeating", () => {
    const s = DEFAULT_RETRY_SCHEDULE;
    expect(nextRetry(s, 1, 0, 0, () => 0.999999)).toEqual({ delayMs: 4999 });
    expect(nextRetry(s, 2, 0, 0, () => 0.5)).toEqual({ delayMs: 150_000 });
    expect(nextRetry(s, 4, 0, 0, () => 0.25)).toEqual({ delayMs: 1_800_000 });
    // Never a zero delay, whatever the random source says.
    expect(nextRetry(s, 1, 0, 0, () => 0)).toEqual({ delayMs: 50 });
    // After the seventh attempt, still inside the window: the 10 h cap again.
    expect(nextRetry(s, 8, 0, 3600_000, () => 1)).toEqual({ delayMs: 36_000_000 });
  });

  it("is exhausted only when every step was used and the whole window has passed since the first attempt", () => {
    const s = [1, 2, 4];
    const first = 1_000_000;
    expect(nextRetry(s, 3, first, first + 10_000, () => 0.5)).toEqual({ delayMs: 2000 });
    expect(nextRetry(s, 4, first, first + 6_999, () => 0.5)).toEqual({ delayMs: 2000 });
    expect(nextRetry(s, 4, first, first + 7_000, () => 0.5)).toBe("exhausted");
  });

  it("keeps retrying at least 24 hours with the default schedule, whatever the jitter", () => {
    for (const r of [0, 0.3, 1]) {
      const first = 0;
      let now = first;
      let attempts = 1;
      for (;;) {
        const next = nextRetry(DEFAULT_RETRY_SCHEDULE, attempts, first, now, () => r);
        if (next === "exhausted") break;
        now += next.delayMs;
        attempts += 1;
      }
      expect(now - first).toBeGreaterThanOrEqual(24 * 3600 * 1000);
      expect(attempts).toBeGreaterThanOrEqual(DEFAULT_RETRY_SCHEDULE.length + 1);
    }
  });
});
