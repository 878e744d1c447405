/**
 * profilesOf (shared/engine/profiles/from-result.ts): which segments and attributes a run profiles. Every segment
 * of the result is profiled (rule and list segments too); the attributes are the named ones, or by default every
 * non-list attribute except the contact and consent ones, the first 30 by name, leaving out a categorical
 * attribute of more than 1,000 distinct values with an issue. A rule segment's country counts are checked
 * against a count made here from the rows.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { computeSegments } from "../../../shared/engine/compute";
import { ingestCustomers, ingestTransactions } from "../../../shared/engine/ingest";
import {
  type CategoricalProfile,
  type CountItem,
  MAX_PROFILE_ATTRIBUTES,
  profilesOf,
  spendByValueOf,
} from "../../../shared/engine/profiles";
import { AggregateState } from "../../../shared/engine/state";
import type { ComputeSettings } from "../../../shared/engine/types";
import { textSource } from "./byte-source";

const AS_OF = "2024-07-01";
const CUSTOMERS = 1_001;
const COUNTRIES = ["NO", "SE", "DK"] as const;
/** Attributes named f00 … f34 and "Zeta" (upper case sorts before lower case in code-unit order). */
const EXTRA = [...Array.from({ length: 35 }, (_, i) => `f${String(i).padStart(2, "0")}`), "Zeta"];

const countryOf = (c: number) => COUNTRIES[c % 3] as string;

async function stateOf(extra: boolean): Promise<AggregateState> {
  const state = new AggregateState();
  const tx: string[] = [];
  for (let c = 0; c < CUSTOMERS; c++) {
    const day = 1 + (c % 28);
    tx.push(`C${c},o${c},2024-05-${String(day).padStart(2, "0")},${10 + (c % 50)}.00`);
  }
  await ingestTransactions(
    textSource(`customer_id,order_id,order_date,amount\n${tx.join("\n")}\n`),
    { format: "csv" },
    state,
  );
  const header = ["customer_id", "country", "age", "email", "phone", "opt_out", "tags", "zip"];
  if (extra) header.push(...EXTRA);
  const rows: string[] = [];
  for (let c = 0; c < CUSTOMERS; c++) {
    const row = [`C${c}`, countryOf(c), String(20 + (c % 50)), `c${c}@example.com`, `+47${c}`, "no", "a;b"];
    // Every customer a zip code of their own: 1,001 distinct values.
    row.push(`Z${c}`);
    if (extra) row.push(...EXTRA.map((_, i) => String((c + i) % 4)));
    rows.push(row.join(","));
  }
  await ingestCustomers(textSource(`${header.join(",")}\n${rows.join("\n")}\n`), { format: "csv" }, state);
  return state;
}

const settings: ComputeSettings = {
  asOf: AS_OF,
  clusters: false,
  value: false,
  attributeTypes: { tags: "list" },
  rules: [
    { id: "rule:nordic-no", name: "Norway", rule: { field: "attributes.country", op: "eq", value: "NO" } },
  ],
  lists: [{ id: "list:first", name: "First", customerIds: ["C0", "C1", "C2"] }],
};

describe("profilesOf", () => {
  let plain: AggregateState;
  let wide: AggregateState;
  beforeAll(async () => {
    plain = await stateOf(false);
    wide = await stateOf(true);
  });

  it("profiles every segment with every non-list attribute but contact, consent and too-many-valued ones", () => {
    const result = computeSegments(plain, settings);
    const out = profilesOf(result);
    expect(out.k).toBe(10);
    expect(out.top).toBe(10);
    expect(out.attributes).toEqual(["age", "country"]);
    expect(Object.keys(out.profiles)).toEqual(result.segments.map((s) => s.id));
    expect(out.profiles["rule:nordic-no"]).toBeDefined();
    expect(out.profiles["list:first"]?.size).toBe(3);
    expect(result.issues.filter((i) => i.stage === "profiles")).toEqual([
      expect.objectContaining({ code: "PROFILE_ATTRIBUTE_TOO_MANY_VALUES", stage: "profiles" }),
    ]);
    expect(result.issues.find((i) => i.stage === "profiles")?.message).toContain("zip");
    expect(typeof result.timings.profiles).toBe("number");

    // The rule segment holds the Norwegians: 334 of 1,001 (c % 3 === 0), all of its country table.
    const norwegians = Array.from({ length: CUSTOMERS }, (_, c) => c).filter(
      (c) => countryOf(c) === "NO",
    ).length;
    const country = out.profiles["rule:nordic-no"]?.attributes[1] as CategoricalProfile;
    expect(country.name).toBe("country");
    const no = country.items.find((i) => i.value === "NO") as Extract<CountItem, { suppressed: false }>;
    expect(no.count).toBe(norwegians);
    expect(no.share).toBe(1);
    expect(no.baseShare).toBe(Math.round((norwegians / CUSTOMERS) * 1e4) / 1e4);
    // The list of three is below k = 10: every cell of its country table is hidden.
    const listCountry = out.profiles["list:first"]?.attributes[1] as CategoricalProfile;
    expect(listCountry.items.every((i) => i.suppressed)).toBe(true);
  });

  it("takes the contact and consent attributes the settings name, and k and top", () => {
    const result = computeSegments(plain, settings);
    const out = profilesOf(result, {
      k: 2,
      top: 1,
      contact: { emailAttribute: "country", phoneAttribute: "age" },
      consent: { optOutAttribute: "phone" },
    });
    // country, age and phone are left out; email and opt_out are plain attributes now, but email has a value
    // per customer (1,001) and goes as zip does.
    expect(out.attributes).toEqual(["opt_out"]);
    expect(result.issues.filter((i) => i.code === "PROFILE_ATTRIBUTE_TOO_MANY_VALUES")).toHaveLength(2);
    expect(out.k).toBe(2);
    expect(out.top).toBe(1);
    const optOut = out.profiles["list:first"]?.attributes[0] as CategoricalProfile;
    // "no" reads as the boolean false; k = 2 shows the list of three, top = 1 lists one value.
    expect(optOut.items.map((i) => [i.value, i.suppressed])).toEqual([["false", false]]);
  });

  it("profiles named attributes as named, a many-valued one too, list attributes never", () => {
    const result = computeSegments(plain, settings);
    const out = profilesOf(result, { attributes: ["zip", "tags", "email", "absent"], k: 1 });
    expect(out.attributes).toEqual(["zip", "email"]);
    expect(result.issues.filter((i) => i.stage === "profiles")).toEqual([]);
    const zip = out.profiles["list:first"]?.attributes[0] as CategoricalProfile;
    expect(zip.items.map((i) => i.value)).toEqual(["Z0", "Z1", "Z2"]);
  });

  it("sums the spend per value in one pass as customer by customer, returns netted, later orders left out", async () => {
    const state = new AggregateState();
    const tx = [
      "customer_id,order_id,order_date,amount,category,channel",
      "A,1,2024-05-01,10.00,Jazz,web",
      "A,2,2024-05-02,5.00,Rock,",
      "A,3,2024-05-03,-12.50,Jazz,web",
      "B,4,2024-05-04,7.25,,app",
      "B,5,2024-08-01,100.00,Jazz,app",
      "C,6,2024-06-01,3.00,Rock,web",
    ];
    await ingestTransactions(textSource(`${tx.join("\n")}\n`), { format: "csv" }, state);
    const result = computeSegments(state, { asOf: AS_OF, clusters: false, value: false });
    const byPosition = (spend: ReturnType<typeof spendByValueOf>, names: (c: number) => string) => {
      const out: Record<string, Record<string, number>> = {};
      for (let p = 0; p < result.customerCount; p++) {
        const row: Record<string, number> = {};
        for (let e = spend.offsets[p] as number; e < (spend.offsets[p + 1] as number); e++)
          row[names(spend.codes[e] as number)] = spend.net[e] as number;
        out[result.customerId(p)] = row;
      }
      return out;
    };
    const category = (c: number) => (c === 0 ? "(none)" : result.source.categories.get(c - 1));
    const channel = (c: number) => (c === 0 ? "(none)" : result.source.channels.get(c - 1));
    // Worked out from the rows: B's order of 2024-08-01 is after asOf.
    const categories = { A: { Jazz: -250, Rock: 500 }, B: { "(none)": 725 }, C: { Rock: 300 } };
    const channels = { A: { web: -250, "(none)": 500 }, B: { app: 725 }, C: { web: 300 } };
    expect(byPosition(spendByValueOf(result, "category"), category)).toEqual(categories);
    expect(byPosition(spendByValueOf(result, "category", 0), category)).toEqual(categories);
    expect(byPosition(spendByValueOf(result, "channel"), channel)).toEqual(channels);
    expect(byPosition(spendByValueOf(result, "channel", 0), channel)).toEqual(channels);
  });

  it("keeps the first 30 attributes by name in code-unit order", () => {
    const result = computeSegments(wide, settings);
    const out = profilesOf(result);
    const expected = ["Zeta", "age", "country", ...EXTRA.slice(0, 35)].slice(0, MAX_PROFILE_ATTRIBUTES);
    expect(MAX_PROFILE_ATTRIBUTES).toBe(30);
    expect(out.attributes).toEqual(expected);
    expect(out.attributes).toContain("f26");
    expect(out.attributes).not.toContain("f27");
  });
});
