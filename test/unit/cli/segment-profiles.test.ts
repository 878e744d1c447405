/**
 * `npm run segment -- … --profiles <file>`: the segment profiles with lift written as JSON `{ k, top, profiles }`
 * and counted in the summary line. A generated file (categories, a customers file with a region) is segmented
 * in-process; the largest RFM segment's Jazz spend and region counts are worked out here from the rows and the
 * per-customer CSV the same run writes.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../scripts/segment";
import type { CategoricalProfile, SegmentLiftProfile, SpendProfile } from "../../../shared/engine/profiles";

const AS_OF = "2024-07-01";
const CUSTOMERS = 400;
const CATEGORIES = ["Jazz", "Rock", "Pop"];
const REGIONS = ["north", "south", "east"];

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

interface Line {
  customer: string;
  day: string;
  cents: number;
  category: string;
}

function generate() {
  const next = lcg(77);
  const lines: Line[] = [];
  const regions: string[] = [];
  const start = Date.parse("2023-07-01T00:00:00Z");
  for (let c = 0; c < CUSTOMERS; c++) {
    const orders = 1 + Math.floor(next() * 6);
    for (let k = 0; k < orders; k++) {
      const day = new Date(start + Math.floor(next() * 365) * 86_400_000).toISOString().slice(0, 10);
      const category = CATEGORIES[Math.floor(next() * 3)] as string;
      lines.push({ customer: `K${c}`, day, cents: 500 + Math.floor(next() * 9_000), category });
    }
    regions.push(REGIONS[Math.floor(next() * 3)] as string);
  }
  const tx = ["customer_id,order_id,order_date,amount,category"];
  for (const [i, l] of lines.entries())
    tx.push(`${l.customer},O${i},${l.day},${(l.cents / 100).toFixed(2)},${l.category}`);
  const customers = ["customer_id,region,email"];
  for (let c = 0; c < CUSTOMERS; c++) customers.push(`K${c},${regions[c]},k${c}@example.com`);
  return { lines, regions, tx: `${tx.join("\n")}\n`, customers: `${customers.join("\n")}\n` };
}

async function run(args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

describe("segment CLI --profiles", () => {
  const data = generate();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "segment-profiles-"));
    await writeFile(join(dir, "tx.csv"), data.tx);
    await writeFile(join(dir, "customers.csv"), data.customers);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes every segment's profile and counts them in the summary", async () => {
    const profilesFile = join(dir, "profiles.json");
    const out = join(dir, "out.csv");
    const result = await run([
      join(dir, "tx.csv"),
      "--customers",
      join(dir, "customers.csv"),
      "--as-of",
      AS_OF,
      "--out",
      out,
      "--profiles",
      profilesFile,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const written = JSON.parse(await readFile(profilesFile, "utf8")) as {
      k: number;
      top: number;
      profiles: Record<string, SegmentLiftProfile>;
    };
    expect({ k: written.k, top: written.top }).toEqual({ k: 10, top: 10 });
    const lines = result.stdout.trimEnd().split("\n");
    const summary = JSON.parse(lines[lines.length - 1] as string);
    expect(summary.profiles.segments).toBe(Object.keys(written.profiles).length);
    expect(summary.profiles.ms).toBeTypeOf("number");

    // Every RFM segment and lifecycle stage of the per-customer CSV has a profile of its size.
    const rows = parse(await readFile(out), { columns: true }) as Record<string, string>[];
    const members = new Map<string, Set<string>>();
    for (const row of rows) {
      for (const id of [row.rfm_segment, row.lifecycle_stage, row.cluster].filter(Boolean) as string[]) {
        const set = members.get(id) ?? new Set<string>();
        set.add(row.customer_id as string);
        members.set(id, set);
      }
    }
    for (const [id, set] of members) expect(written.profiles[id]?.size, id).toBe(set.size);

    // The largest RFM segment: its Jazz spend and region counts from the rows; email is a contact attribute.
    const [largest, set] = [...members]
      .filter(([id]) => id.startsWith("rfm:"))
      .sort((a, b) => b[1].size - a[1].size)[0] as [string, Set<string>];
    const profile = written.profiles[largest] as SegmentLiftProfile;
    expect(profile.attributes.map((a) => a.name)).toEqual(["region"]);
    const net = new Map<string, number>();
    for (const l of data.lines) {
      if (set.has(l.customer))
        net.set(`${l.customer}|${l.category}`, (net.get(`${l.customer}|${l.category}`) ?? 0) + l.cents);
    }
    const jazz = [...net].filter(([key]) => key.endsWith("|Jazz"));
    const category = profile.spend[0] as SpendProfile;
    expect(category.dimension).toBe("category");
    expect(category.totalCents).toBe([...net.values()].reduce((a, b) => a + b, 0));
    expect(category.items.find((i) => i.value === "Jazz")).toMatchObject({
      suppressed: false,
      buyers: jazz.length,
      netCents: jazz.reduce((a, [, cents]) => a + cents, 0),
    });
    const region = profile.attributes[0] as CategoricalProfile;
    for (const name of REGIONS) {
      const count = [...set].filter((id) => data.regions[Number(id.slice(1))] === name).length;
      const item = region.items.find((i) => i.value === name);
      if (count >= 10) expect(item, name).toMatchObject({ suppressed: false, count });
    }
  });

  it("lists --profiles in its usage, and exits 1 when the file cannot be written", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("[--profiles <file>]");
    const bad = await run([
      join(dir, "tx.csv"),
      "--as-of",
      AS_OF,
      "--out",
      join(dir, "out2.csv"),
      "--profiles",
      join(dir, "missing", "profiles.json"),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cannot write .*profiles\.json \(ENOENT\)/);
  });
});
