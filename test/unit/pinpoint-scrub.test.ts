/**
 * Erasure in a Pinpoint endpoint export: the rewrite leaves out exactly the lines whose User.UserId is the
 * customer's (trimmed, as the import reads it), keeps every other line byte for byte, and importing the
 * rewritten file gives what importing the original and then removing the customer gives.
 */
import { describe, expect, it } from "vitest";
import { ingestPinpointEndpoints } from "../../shared/engine/pinpoint";
import { AggregateState } from "../../shared/engine/state";
import { type ScrubCounts, scrubText } from "../../shared/pipeline/scrub";
import { chunked, everyN } from "./engine/byte-source";

const LINES = [
  '{"Id":"e1","ChannelType":"EMAIL","Address":"keep@example.com","User":{"UserId":"KEEP"}}',
  '{"Id":"e2","ChannelType":"SMS","Address":"+15550001","OptOut":"ALL","User":{"UserId":"  GONE "}}',
  '{"Id":"e3","ChannelType":"EMAIL","Address":"anon@example.com"}',
  '{"Id":"e4","ChannelType":"EMAIL","Address":"gone@example.com","User":{"UserId":"GONE"},"Metrics":{"x":"bad"}}',
  '{"Id":"e5","ChannelType":"SMS","customer_id":"GONE","User":{"UserId":"GONEX"}}',
  "",
].join("\n");

async function scrub(bytes: Uint8Array, cuts: number[]) {
  const counts: ScrubCounts = { rowsRemoved: 0, unreadableRows: 0 };
  const parts: Buffer[] = [];
  const options = { format: "ndjson" as const, kind: "pinpoint-endpoints" as const };
  for await (const part of scrubText(chunked(bytes, cuts), options, new Set(["GONE"]), counts))
    parts.push(part);
  return { text: Buffer.concat(parts).toString("utf8"), counts };
}

async function customers(text: string) {
  const state = new AggregateState();
  await ingestPinpointEndpoints(chunked(Buffer.from(text)), { compression: "none" }, state);
  return state;
}

describe("a Pinpoint export without an erased customer", () => {
  it("loses exactly the customer's lines, malformed ones included, whatever the chunks", async () => {
    const bytes = Buffer.from(LINES);
    for (const cuts of [[], everyN(bytes.length, 7), everyN(bytes.length, 64)]) {
      const { text, counts } = await scrub(bytes, cuts);
      const lines = LINES.split("\n");
      expect(text).toBe(`${[lines[0], lines[2], lines[4]].join("\n")}\n`);
      expect(counts).toEqual({ rowsRemoved: 2, unreadableRows: 0 });
    }
  });

  it("imports as the original does without the customer", async () => {
    const { text } = await scrub(Buffer.from(LINES), []);
    const rewritten = await customers(text);
    const original = (await customers(LINES)).withoutCustomers(["GONE"]);
    const view = (s: AggregateState) =>
      Object.fromEntries(
        Array.from({ length: s.customerCount }, (_, i) => [s.customerId(i), s.attributesOf(i)]),
      );
    expect(view(rewritten)).toEqual(view(original));
    expect(Object.keys(view(rewritten)).sort()).toEqual(["GONEX", "KEEP"]);
  });
});
