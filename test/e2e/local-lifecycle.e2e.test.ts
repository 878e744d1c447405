/**
 * `npm start` as a user meets it: the demo dataset is served on first start, Ctrl-C stops everything, data
 * survives a restart, and --reset starts afresh.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type LocalService, startLocalService } from "./local-service";

let running: LocalService | undefined;

afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function portClosed(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return false;
  } catch {
    return true;
  }
}

describe("the local service", () => {
  it("serves the demo dataset, stops on Ctrl-C, keeps data across restarts and resets on request", async () => {
    running = await startLocalService({ args: ["--refresh-every", "0"], timeoutMs: 480_000 });
    const { dataDir, api, s3, auth } = running;
    const segments = (await (await fetch(`${api}/datasets/cdnow/segments`, { headers: auth })).json()) as {
      asOf: string;
      customerCount: number;
      segments: unknown[];
    };
    expect(segments.asOf).toBe("1998-07-01");
    expect(segments.customerCount).toBe(23_570);
    const customer = await fetch(`${api}/datasets/cdnow/customers/00001`, { headers: auth });
    expect(customer.status).toBe(200);

    expect(await running.stop()).toBe(0);
    running = undefined;
    expect(await portClosed(`${api}/health`)).toBe(true);
    expect(await portClosed(s3)).toBe(true);

    running = await startLocalService({ dataDir, args: ["--refresh-every", "0"] });
    expect(running.output()).toContain("already loaded");
    // The signing key survives the restart with the data, so the first start's token still works.
    const again = (await (
      await fetch(`${running.api}/datasets/cdnow/segments`, { headers: auth })
    ).json()) as {
      segments: unknown[];
    };
    expect(again.segments).toEqual(segments.segments);
    await running.stop();

    running = await startLocalService({ dataDir, args: ["--reset", "--no-demo", "--refresh-every", "0"] });
    // --reset made a new signing key: tokens of the old one are refused, the new token finds no dataset.
    const stale = await fetch(`${running.api}/datasets/cdnow/segments`, { headers: auth });
    expect(stale.status).toBe(401);
    const gone = await fetch(`${running.api}/datasets/cdnow/segments`, { headers: running.auth });
    expect(gone.status).toBe(404);
  }, 600_000);
});
