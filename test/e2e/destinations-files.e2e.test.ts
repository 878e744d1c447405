/**
 * S3 member lists and ad-audience files through the real local service (`npm start`'s servers): destinations
 * writing into a bucket on the local S3 server after a committed run, their files and manifests equal to the
 * API's member pages of that version, audience files holding only hashes of the normalized addresses of the
 * customers file, opted-out customers in no file (unless a destination includes them), and an erasure that
 * rewrites every file the service holds.
 *
 * The data: the ten customers of test/fixtures/e2e/transactions.csv, then a customers file with emails,
 * phones and opt-outs, then the destinations, then a second orders file with two new customers, whose run
 * changes the followed segments and so writes the files.
 *
 * Expected hashes are worked out here, independently of the service: the normalized form of each address is
 * written by hand below from each platform's documented rules, hashed with node:crypto. Meta's own documented
 * digests (developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-
 * parameters: John_Smith@gmail.com and the US number (650)555-1212) are checked as literals.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBucket } from "../../scripts/emulators/resources";
import { S3_SERVER_CREDENTIALS } from "../../scripts/emulators/s3-server";
import { uploadFile } from "../../scripts/local/upload";
import { LIFECYCLE_STAGES, RFM_SEGMENTS } from "../../shared/engine";
import { type LocalService, startLocalService } from "./local-service";

const DATASET = "files";
const BUCKET = "destination-files";
const FOLLOWED = [...RFM_SEGMENTS, ...LIFECYCLE_STAGES].map((s) => s.id);

const CUSTOMERS = [
  "customer_id,email,phone,opt_out",
  "C01,John_Smith@gmail.com,+1 (650) 555-1212,false",
  'C02," Cloudy.SanFrancisco+Shopping@GMail.com ",,',
  "C03,user.name+NYC@Example.com,0044 20 7946 0958,no",
  "C04,ada@example.com,+49 151 1234 5678,true",
  "C05,,(650) 555-0000,",
  "C06,grace@example.com,,ALL",
  "C07,,,",
  "C08,not-an-email,,",
  "C09,,+1 800 555 0100,",
  "C10,Mary.Major@googlemail.com,,",
  "",
].join("\n");
const OPTED_OUT = new Set(["C04", "C06"]);

/** Two new customers: they enter segments, so the run changes what the destinations follow. */
const MORE_ORDERS = [
  "customer_id,order_id,order_date,amount,channel",
  "C11,O1101,2025-09-28,75.00,web",
  "C12,O1201,2025-07-15,20.00,app",
  "C12,O1202,2025-09-29,35.00,app",
  "",
].join("\n");

/** Each customer's normalized addresses, by hand from each platform's rules (see the module header). */
const NORMALIZED: Record<"google" | "meta", Record<string, { email?: string; phone?: string }>> = {
  google: {
    C01: { email: "john_smith@gmail.com", phone: "+16505551212" },
    C02: { email: "cloudysanfrancisco@gmail.com" },
    C03: { email: "user.name+nyc@example.com", phone: "+442079460958" },
    C09: { phone: "+18005550100" },
    C10: { email: "marymajor@googlemail.com" },
  },
  meta: {
    C01: { email: "john_smith@gmail.com", phone: "16505551212" },
    C02: { email: "cloudy.sanfrancisco+shopping@gmail.com" },
    C03: { email: "user.name+nyc@example.com", phone: "442079460958" },
    C09: { phone: "18005550100" },
    C10: { email: "mary.major@googlemail.com" },
  },
};
const META_JOHN_SMITH = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f";
const META_650_555_1212 = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176";

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

interface Destination {
  destinationId: string;
  name: string;
  kind: "s3" | "audience";
  includeOptedOut: boolean;
  prefix: string;
  format?: "csv" | "jsonl";
  platform?: "google" | "meta";
}

interface Manifest {
  runId: string;
  version: number;
  asOf: string;
  files: Array<{ segment: string; key: string; count: number; bytes: number; sha256: string }>;
}

let service: LocalService;
let s3: S3Client;
const destinations: Destination[] = [];
let runId: string;

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${service.api}${path}`, {
    method,
    headers: {
      ...service.auth,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

/** Polls until `fn` answers something; the deadline only catches a hang. */
async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  throw new Error(`Timed out waiting for ${what}`, { cause: last });
}

async function object(key: string): Promise<string | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return await out.Body?.transformToString("utf8");
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? "");
}

/** Every member of a segment in the API's page order, all pages. */
async function apiMembers(segmentId: string): Promise<{ version: number; ids: string[] }> {
  const ids: string[] = [];
  let cursor: string | undefined;
  let version = -1;
  do {
    const q = cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const page = await call("GET", `/datasets/${DATASET}/segments/${segmentId}/members?limit=3${q}`);
    if (page.status === 404) return { version, ids };
    expect(page.status, page.text).toBe(200);
    version = page.body.version;
    ids.push(...page.body.customerIds);
    cursor = page.body.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return { version, ids };
}

function folder(d: Destination, run: string): string {
  return `${d.prefix}${DATASET}/${run}/`;
}

/** The file's data lines as the test expects them for `ids`, members of one segment in page order. */
function expectedLines(d: Destination, ids: string[]): string[] {
  const kept = d.includeOptedOut ? ids : ids.filter((id) => !OPTED_OUT.has(id));
  if (d.kind === "s3") {
    return d.format === "jsonl" ? kept.map((id) => JSON.stringify({ customer_id: id })) : kept;
  }
  const table = NORMALIZED[d.platform ?? "google"];
  return kept.flatMap((id) => {
    const n = table[id];
    if (!n) return [];
    return [`${n.email ? sha256(n.email) : ""},${n.phone ? sha256(n.phone) : ""}`];
  });
}

function dataLines(d: Destination, text: string): string[] {
  const jsonl = d.kind === "s3" && d.format === "jsonl";
  // A JSON lines file of no member is empty; every other file ends its last line.
  if (jsonl && text === "") return [];
  const eol = jsonl ? "\n" : "\r\n";
  expect(text.endsWith(eol)).toBe(true);
  const lines = text.slice(0, -eol.length).split(eol);
  if (jsonl) return lines;
  const header = d.kind === "s3" ? "customer_id" : d.platform === "meta" ? "EMAIL,PHONE" : "Email,Phone";
  expect(lines[0]).toBe(header);
  return lines.slice(1);
}

beforeAll(async () => {
  service = await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
  s3 = new S3Client({
    endpoint: service.s3,
    region: "us-east-1",
    credentials: S3_SERVER_CREDENTIALS,
    forcePathStyle: true,
  });
  await ensureBucket(s3, BUCKET);
  const created = await call("POST", "/datasets", { datasetId: DATASET, settings: { asOf: "2025-10-01" } });
  expect(created.status, created.text).toBe(201);
  const options = { waitMs: 120_000, token: service.token };
  const orders = await readFile(resolve(import.meta.dirname, "../fixtures/e2e/transactions.csv"));
  expect((await uploadFile(service.api, DATASET, "transactions.csv", orders, options)).status).toBe(
    "succeeded",
  );
  const people = await uploadFile(service.api, DATASET, "customers.csv", Buffer.from(CUSTOMERS), {
    ...options,
    kind: "customers",
  });
  expect(people.status).toBe("succeeded");

  const specs: Array<Omit<Destination, "destinationId">> = [
    { name: "CRM list", kind: "s3", includeOptedOut: false, prefix: "crm/", format: "csv" },
    { name: "Warehouse", kind: "s3", includeOptedOut: false, prefix: "warehouse/", format: "jsonl" },
    { name: "Everyone", kind: "s3", includeOptedOut: true, prefix: "all/", format: "csv" },
    {
      name: "Google Ads",
      kind: "audience",
      includeOptedOut: false,
      prefix: "ads/google/",
      platform: "google",
    },
    { name: "Meta", kind: "audience", includeOptedOut: false, prefix: "ads/meta/", platform: "meta" },
  ];
  for (const spec of specs) {
    const body = {
      name: spec.name,
      kind: spec.kind,
      segments: FOLLOWED,
      includeOptedOut: spec.includeOptedOut,
      ...(spec.kind === "s3"
        ? { s3: { bucket: BUCKET, prefix: spec.prefix, format: spec.format } }
        : { audience: { platform: spec.platform, bucket: BUCKET, prefix: spec.prefix } }),
    };
    const res = await call("POST", `/datasets/${DATASET}/destinations`, body);
    expect(res.status, res.text).toBe(201);
    destinations.push({ ...spec, destinationId: res.body.destinationId });
  }

  const more = await uploadFile(service.api, DATASET, "more-orders.csv", Buffer.from(MORE_ORDERS), options);
  expect(more.status).toBe("succeeded");
  runId = more.runId;
  // The files are written after the run commits: wait for each destination's manifest, written last.
  for (const d of destinations) {
    await poll(`the manifest of ${d.name}`, () => object(`${folder(d, runId)}manifest.json`));
  }
}, 400_000);

afterAll(async () => {
  await service?.stop();
});

describe("files after a committed run", () => {
  it("list each followed segment's members exactly as the API's member pages of that version", async () => {
    const segments = await call("GET", `/datasets/${DATASET}/segments`);
    const version: number = segments.body.version;
    let members = 0;
    for (const d of destinations) {
      const manifest = JSON.parse((await object(`${folder(d, runId)}manifest.json`)) ?? "") as Manifest;
      expect(manifest).toMatchObject({ runId, version, asOf: "2025-10-01" });
      expect(manifest.files.map((f) => f.segment)).toEqual(FOLLOWED);
      for (const file of manifest.files) {
        const api = await apiMembers(file.segment);
        if (api.ids.length > 0) expect(api.version).toBe(version);
        const text = (await object(file.key)) ?? "";
        const lines = dataLines(d, text);
        expect(lines, `${d.name} ${file.segment}`).toEqual(expectedLines(d, api.ids));
        expect(file.count).toBe(lines.length);
        expect(file.bytes).toBe(Buffer.byteLength(text));
        expect(file.sha256).toBe(sha256(text));
        if (d.name === "Everyone") members += api.ids.length;
      }
    }
    // Every customer is in one RFM segment and one lifecycle stage: the comparison covered all twelve twice.
    expect(members).toBe(24);
  });

  it("leave opted-out customers out of every file but the one that includes them", async () => {
    for (const d of destinations) {
      const manifest = JSON.parse((await object(`${folder(d, runId)}manifest.json`)) ?? "") as Manifest;
      const all = (await Promise.all(manifest.files.map((f) => object(f.key)))).join("");
      for (const id of OPTED_OUT) {
        if (d.includeOptedOut) expect(all, d.name).toMatch(new RegExp(`^${id}\\r$`, "m"));
        else if (d.kind === "s3") expect(all, d.name).not.toContain(id);
      }
      if (d.kind === "audience") {
        for (const raw of ["ada@example.com", "grace@example.com", "+4915112345678", "4915112345678"]) {
          expect(all, d.name).not.toContain(sha256(raw));
        }
      }
    }
  });

  it("hold only digests in audience files, Meta's documented ones among them", async () => {
    const meta = destinations.find((d) => d.platform === "meta") as Destination;
    const google = destinations.find((d) => d.platform === "google") as Destination;
    const files = async (d: Destination) => {
      const manifest = JSON.parse((await object(`${folder(d, runId)}manifest.json`)) ?? "") as Manifest;
      return (await Promise.all(manifest.files.map((f) => object(f.key)))).map((t) => dataLines(d, t ?? ""));
    };
    const metaLines = (await files(meta)).flat();
    expect(metaLines).toContain(`${META_JOHN_SMITH},${META_650_555_1212}`);
    const googleLines = (await files(google)).flat();
    // C01..C03, C09, C10 have a usable address: five customers, each once per family of segments.
    expect(metaLines).toHaveLength(10);
    expect(googleLines).toHaveLength(10);
    for (const line of [...metaLines, ...googleLines])
      expect(line).toMatch(/^([0-9a-f]{64})?,([0-9a-f]{64})?$/);
  });
});

describe("erasure", () => {
  it("rewrites every file the service holds without the customer", async () => {
    const accepted = await call("DELETE", `/datasets/${DATASET}/customers/C01`);
    expect(accepted.status, accepted.text).toBe(202);
    const done = await poll("the erasure to complete", async () => {
      const got = await call("GET", `/datasets/${DATASET}/erasures/${accepted.body.erasureId}`);
      return got.body?.status === "completed" ? got.body : undefined;
    });
    // C01 was on a line of one RFM file and one lifecycle file of each of the five destinations.
    expect(done.counts.destinationFilesRewritten).toBe(10);

    const hashes = [
      META_JOHN_SMITH,
      META_650_555_1212,
      sha256("john_smith@gmail.com"),
      sha256("+16505551212"),
    ];
    for (const d of destinations) {
      for (const key of await keysUnder(`${d.prefix}${DATASET}/`)) {
        const text = (await object(key)) ?? "";
        if (key.endsWith("manifest.json")) {
          const manifest = JSON.parse(text) as Manifest;
          for (const file of manifest.files) expect(file.sha256).toBe(sha256((await object(file.key)) ?? ""));
          continue;
        }
        expect(text, key).not.toMatch(/\bC01\b/);
        for (const hash of hashes) expect(text, key).not.toContain(hash);
      }
    }
    // Everyone else is still there.
    const crm = destinations[0] as Destination;
    const manifest = JSON.parse((await object(`${folder(crm, runId)}manifest.json`)) ?? "") as Manifest;
    expect(manifest.files.reduce((n, f) => n + f.count, 0)).toBe(24 - 2 * OPTED_OUT.size - 2);
  });
});
