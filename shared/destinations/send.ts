/**
 * One HTTP POST of a webhook delivery, to the address the SSRF guard vetted: the socket connects to that
 * address (the `lookup` hook answers it instead of asking DNS again), while the URL's host name stays in the
 * Host header and, for https, in TLS's server name and certificate check. Redirects are not followed (a 3xx
 * is a failed attempt). The response body is read and dropped, never logged.
 */
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { VettedUrl } from "./ssrf";

export interface SendResult {
  statusCode: number;
}

/** Sends one request; rejects on a network error or when `timeoutMs` passes without a full answer. */
export type WebhookSender = (
  target: VettedUrl,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
) => Promise<SendResult>;

export const sendWebhook: WebhookSender = (target, headers, body, timeoutMs) =>
  new Promise<SendResult>((resolve, reject) => {
    const { url, address } = target;
    const lookup: LookupFunction = (_host, options, callback) => {
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
          { address: address.address, family: address.family },
        ]);
      } else {
        callback(null, address.address, address.family);
      }
    };
    const transport = url.protocol === "https:" ? https : http;
    const payload = Buffer.from(body, "utf8");
    const req = transport.request(
      url,
      {
        method: "POST",
        headers: {
          ...headers,
          "content-length": String(payload.length),
          "user-agent": "segmentation-webhooks",
        },
        lookup,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => {
          clearTimeout(deadline);
          resolve({ statusCode: res.statusCode ?? 0 });
        });
        res.on("error", (error) => {
          clearTimeout(deadline);
          reject(error);
        });
      },
    );
    // The whole exchange, not only socket idleness, is bounded by the timeout.
    const deadline = setTimeout(() => req.destroy(new Error(`No answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("timeout", () => req.destroy(new Error(`No answer within ${timeoutMs} ms`)));
    req.on("error", (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    req.end(payload);
  });
