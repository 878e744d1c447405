/**
 * Generates the demo's customers files (`cdnow-sample-customers.csv.gz`, `cdnow-customers.csv.gz`) from the
 * CDNOW transactions beside them: CDNOW has no customer attributes, so the demo's are made up, with a
 * structure planted so that segment profiles have something to show. Each customer gets
 *
 * - `region`: north, south, east or west; among the RFM segment Champions (as of 1998-07-01) north is drawn
 *   with probability 0.4 and each other region 0.2, among everyone else north 0.2 and each other 0.8 / 3, so
 *   north is twice as common among Champions as among the rest;
 * - `age`: uniform over 35–64 among Champions and 18–64 among the rest, missing for 1 in 20;
 * - `member_since`: 0 to 400 days before the customer's first purchase.
 *
 * Seeded (mulberry32), so the files are the same bytes on every run:
 *
 *   npx tsx scripts/local/demo/customers.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import {
  AggregateState,
  computeSegments,
  ingestTransactions,
  isoDay,
  RFM_SEGMENTS,
} from "../../../shared/engine";
import { mulberry32 } from "../../random";

const here = dirname(fileURLToPath(import.meta.url));
const AS_OF = "1998-07-01";
const REGIONS = ["north", "south", "east", "west"] as const;

async function generate(transactions: string, out: string): Promise<void> {
  const state = new AggregateState();
  await ingestTransactions(
    (async function* () {
      yield readFileSync(join(here, transactions));
    })(),
    { format: "csv" },
    state,
  );
  const result = computeSegments(state, { asOf: AS_OF, clusters: false, value: false });
  const champions = RFM_SEGMENTS.findIndex((s) => s.id === "rfm:champions");
  const random = mulberry32(1998);
  const rows: string[] = [];
  for (let p = 0; p < result.customerCount; p++) {
    const champion = result.columns.rfmSegment[p] === champions;
    const u = random();
    const region = champion
      ? u < 0.4
        ? "north"
        : REGIONS[1 + Math.min(2, Math.floor((u - 0.4) / 0.2))]
      : u < 0.2
        ? "north"
        : REGIONS[1 + Math.min(2, Math.floor(((u - 0.2) / 0.8) * 3))];
    const age =
      random() < 0.05
        ? ""
        : String(champion ? 35 + Math.floor(random() * 30) : 18 + Math.floor(random() * 47));
    const since = isoDay((result.columns.firstPurchaseDay[p] as number) - Math.floor(random() * 401));
    rows.push(`${result.customerId(p)},${region},${age},${since}`);
  }
  rows.sort();
  const text = `customer_id,region,age,member_since\n${rows.join("\n")}\n`;
  writeFileSync(join(here, out), gzipSync(Buffer.from(text), { level: 9 }));
  process.stdout.write(`${out}: ${rows.length} customers\n`);
}

await generate("cdnow-sample-transactions.csv.gz", "cdnow-sample-customers.csv.gz");
await generate("cdnow-transactions.csv.gz", "cdnow-customers.csv.gz");
