/**
 * The Online Retail files (real data, ../shared/data/online-retail) through `npm start`'s real servers and
 * its upload path (presigned POST to the S3 server, a run per upload): a dataset segmented by country, whose
 * country family, and the country profile of its Champions, are checked against counts this test makes
 * itself from the two files and from the member pages.
 *
 * Which customers a computation counts, read from the engine (compute.ts customerTotals, ingest.ts): the lines
 * of one invoice are one order (amounts summed, customer of the first line); an order whose sum is negative
 * is a return. A customer is counted when at least one order dated on or before asOf is not a return, and
 * the customer's revenue is the net sum of all of their orders, returns included. Here every order is dated
 * before asOf, so the customers with cancellations only (33, the data's README says) are not counted, and a
 * customer's revenue is the sum of all of their lines.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadFile } from "../../scripts/local/upload";
import { sharedData } from "../support/shared-data";
import { type LocalService, startLocalService } from "./local-service";

const DATASET = "online-retail";
const AS_OF = "2011-12-10";
const TOP = 10;

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON read field by field by the assertions.
type Json = any;

let service: LocalService;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${service.api}${path}`, {
    method,
    ...(body === undefined
      ? { headers: service.auth }
      : { headers: { ...service.auth, "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
}

/** Every member of a segment, through the member pages. */
async function members(segmentId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await call("GET", `/datasets/${DATASET}/segments/${segmentId}/members?limit=1000${query}`);
    expect(page.status).toBe(200);
    ids.push(...page.body.customerIds);
    cursor = page.body.nextCursor;
  } while (cursor);
  return ids;
}

/** "15.30" or "-1.05" as integer cents, from the text (no floating point). */
function cents(text: string): number {
  const negative = text.startsWith("-");
  const [whole = "0", fraction = ""] = (negative ? text.slice(1) : text).split(".");
  const value = Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  return negative ? -value : value;
}

/** The id slug rule of the README: lower-case, each run outside [a-z0-9] one "-", trimmed, at most 64. */
const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64);

interface Expected {
  /** Customers of the computation with their net revenue in cents. */
  revenue: Map<string, number>;
  /** Orders that are not returns (the engine's frequency), by customer. */
  orders: Map<string, number>;
  country: Map<string, string>;
}

/** The counts this test makes from the two files, as the module header says. */
async function expectedFromFiles(): Promise<Expected> {
  const transactions = await readFile(sharedData("online-retail/online-retail-transactions.csv"), "utf8");
  const lines = transactions.split("\n");
  expect(lines[0]).toBe("customer_id,order_id,order_date,amount,quantity,currency");
  const orders = new Map<string, { customer: string; cents: number }>();
  let afterAsOf = 0;
  let otherCustomer = 0;
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const [customer = "", order = "", date = "", amount = ""] = line.split(",");
    if (date >= AS_OF) afterAsOf++;
    const known = orders.get(order);
    if (known === undefined) orders.set(order, { customer, cents: cents(amount) });
    else {
      if (known.customer !== customer) otherCustomer++;
      known.cents += cents(amount);
    }
  }
  // Every line is dated before asOf, and every invoice names one customer (else the engine would reject the
  // other customers' lines): the counts below need nothing more of the engine's rules.
  expect({ afterAsOf, otherCustomer }).toEqual({ afterAsOf: 0, otherCustomer: 0 });
  const net = new Map<string, number>();
  const counted = new Map<string, number>();
  for (const { customer, cents: c } of orders.values()) {
    net.set(customer, (net.get(customer) ?? 0) + c);
    if (c >= 0) counted.set(customer, (counted.get(customer) ?? 0) + 1);
  }
  const revenue = new Map([...net].filter(([id]) => counted.has(id)));
  const customers = await readFile(sharedData("online-retail/online-retail-customers.csv"), "utf8");
  const country = new Map<string, string>();
  for (const line of customers.split("\n").slice(1)) {
    if (line === "") continue;
    const at = line.indexOf(",");
    country.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return { revenue, orders: counted, country };
}

let expected: Expected;

beforeAll(async () => {
  [service, expected] = await Promise.all([
    startLocalService({ args: ["--no-demo", "--refresh-every", "0"] }),
    expectedFromFiles(),
  ]);
}, 600_000);

afterAll(async () => {
  await service?.stop();
});

describe("Online Retail segmented by country, through the local service's upload path", () => {
  it("creates the dataset with segmentBy and refuses a segmentBy naming an attribute twice", async () => {
    const created = await call("POST", "/datasets", {
      datasetId: DATASET,
      settings: { asOf: AS_OF, segmentBy: [{ attribute: "country", top: TOP }] },
    });
    expect(created.status).toBe(201);
    const bad = await call("PUT", `/datasets/${DATASET}/settings`, {
      asOf: AS_OF,
      segmentBy: [{ attribute: "country" }, { attribute: "Country" }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("VALIDATION_FAILED");
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      "body.segmentBy.1.attribute",
    ]);
  });

  it("uploads the customers and the transactions files with presigned POSTs; each run succeeds", async () => {
    // Customers first: their run has no orders to score, so only the second run writes every customer.
    for (const [file, kind] of [
      ["online-retail-customers.csv", "customers"],
      ["online-retail-transactions.csv", "transactions"],
    ] as const) {
      const run = await uploadFile(
        service.api,
        DATASET,
        file,
        await readFile(sharedData(`online-retail/${file}`)),
        { kind, token: service.token, waitMs: 600_000 },
      );
      expect(run.status, JSON.stringify(run)).toBe("succeeded");
    }
  }, 1_800_000);

  it("serves the country family: the top 10 countries by customers, other, sizes and revenues as counted from the files", async () => {
    const { revenue, orders: orderCounts, country } = expected;
    const list = await call("GET", `/datasets/${DATASET}/segments`);
    expect(list.status).toBe(200);
    expect(list.body.customerCount).toBe(revenue.size);
    // 4,372 customers less the 33 with cancellations only, as the data's README counts them.
    expect(revenue.size).toBe(4372 - 33);

    // Customers of the computation per country; every one of them has a row in the customers file.
    const byCountry = new Map<string, { size: number; cents: number }>();
    for (const [id, c] of revenue) {
      const name = country.get(id);
      expect(name, id).toBeDefined();
      const entry = byCountry.get(name as string) ?? { size: 0, cents: 0 };
      entry.size++;
      entry.cents += c;
      byCountry.set(name as string, entry);
    }
    const ranked = [...byCountry].sort(([a, x], [b, y]) => y.size - x.size || (a < b ? -1 : 1));
    const top = ranked.slice(0, TOP);
    const rest = ranked.slice(TOP);
    const want = [
      ...top.map(([name, e]) => ({ id: `attr:country:${slug(name)}`, name: `country: ${name}`, ...e })),
      {
        id: "attr:country:other",
        name: "country: other",
        size: rest.reduce((s, [, e]) => s + e.size, 0),
        cents: rest.reduce((s, [, e]) => s + e.cents, 0),
      },
    ];
    expect(top[0]?.[0]).toBe("United Kingdom");

    const served = list.body.segments.filter((s: Json) => s.family === "attr");
    expect(
      served.map((s: Json) => ({ id: s.id, name: s.name, size: s.size, cents: Math.round(s.revenue * 100) })),
    ).toEqual(want);
    expect(served.map((s: Json) => s.attribute)).toEqual([
      ...top.map(([name]) => ({ name: "country", value: name, kind: "value" })),
      { name: "country", value: null, kind: "other" },
    ]);
    // The family covers every customer once, and all of the revenue.
    const total = [...revenue.values()].reduce((s, c) => s + c, 0);
    expect(served.reduce((s: number, x: Json) => s + x.size, 0)).toBe(revenue.size);
    expect(served.reduce((s: number, x: Json) => s + Math.round(x.revenue * 100), 0)).toBe(total);

    // A segment's members are the customers of that country.
    const germany = [...revenue.keys()].filter((id) => country.get(id) === "Germany").sort();
    expect((await members("attr:country:germany")).sort()).toEqual(germany);
    const one = await call("GET", `/datasets/${DATASET}/segments/attr:country:germany`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: "attr:country:germany", family: "attr", size: germany.length });

    // A rule may name an attribute segment: a dry run of "German, and bought more than once" picks them.
    const repeat = germany.filter((id) => (orderCounts.get(id) ?? 0) > 1);
    const dry = await call("POST", `/datasets/${DATASET}/dry-run`, {
      name: "German repeat buyers",
      rule: {
        and: [
          { field: "segment", op: "in_segment", value: "attr:country:germany" },
          { field: "frequency", op: "gt", value: 1 },
        ],
      },
    });
    expect(dry.status).toBe(200);
    expect(dry.body.size).toBe(repeat.length);
  }, 600_000);

  it("profiles rfm:champions: its top country and the lift equal the counts of its member pages and the customers file", async () => {
    const { revenue, country } = expected;
    const answer = await call("GET", `/datasets/${DATASET}/segments/rfm:champions`);
    expect(answer.status).toBe(200);
    const champions = await members("rfm:champions");
    expect(champions.length).toBe(answer.body.size);

    const count = (ids: Iterable<string>) => {
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(country.get(id) ?? "", (counts.get(country.get(id) ?? "") ?? 0) + 1);
      return counts;
    };
    const inSegment = count(champions);
    const inBase = count(revenue.keys());
    const [topCountry, topCount] = [...inSegment].sort(([, a], [, b]) => b - a)[0] as [string, number];
    const share = topCount / champions.length;
    const baseShare = (inBase.get(topCountry) as number) / revenue.size;

    const profile = answer.body.liftProfile;
    expect(profile, "GET segment serves liftProfile").toBeTruthy();
    expect(profile.size).toBe(champions.length);
    const byCountry = profile.attributes.find((a: Json) => a.name === "country");
    expect(byCountry.kind).toBe("categorical");
    const first = byCountry.items[0];
    expect(first).toMatchObject({ value: topCountry, suppressed: false, count: topCount });
    expect(first.share).toBeCloseTo(share, 4);
    expect(first.baseShare).toBeCloseTo(baseShare, 4);
    expect(first.lift).toBeCloseTo(share / baseShare, 3);
  }, 600_000);
});
