/**
 * The dashboard in Debian's Chromium against the local service (started without the demo): sign-in, an
 * upload through the page, the overview, the segments, one segment's members page by page and its export,
 * a rule segment previewed and saved, and a customer lookup. Every figure or id the page shows is compared
 * with the API's own answer for the same thing, fetched here with the typed client, and the figures that
 * follow from the uploaded file alone (rows, rejected rows, who a rule selects) are also worked out here from
 * the file. Every request the browser makes is recorded: none may go to a host other than the API and the
 * S3 addresses of the presigned upload and of the rejected-row report it downloads.
 */
import { readFile } from "node:fs/promises";
import { parse } from "csv-parse/sync";
import type { Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { localKeys, mintToken } from "../../scripts/local/auth";
import { type Client, createClient } from "../../shared/client";
import type { Rule } from "../../shared/engine/rules";
import { type LocalService, startLocalService } from "../e2e/local-service";
import { type Chromium, launchChromium } from "./chromium";
import { FIXTURE_AS_OF, makeCategorizedTransactions, makeTransactions } from "./fixture";

const DATASET = "web";
/** Rows the reader must reject: a month 13 and an amount that is not a number. */
const BAD_ROWS = ["C9001,OBAD1,2025-13-01,10.00,web", "C9002,OBAD2,2025-05-01,abc,web"];
const FILE = `${makeTransactions(250, 3)}${BAD_ROWS.join("\n")}\n`;
const GOOD_LINES = FILE.trim().split("\n").slice(1, -BAD_ROWS.length);

/** Net spend and order count of each customer of the file's good rows, worked out here. */
function customersOfFile(): Map<string, { monetary: number; orders: number }> {
  const out = new Map<string, { monetary: number; orders: number }>();
  for (const line of GOOD_LINES) {
    const [id = "", , , amount = "0"] = line.split(",");
    const c = out.get(id) ?? { monetary: 0, orders: 0 };
    c.monetary += Number(amount);
    c.orders += 1;
    out.set(id, c);
  }
  return out;
}

const number = (text: string | null) => Number((text ?? "").replace(/[,%\s]/g, ""));
const money = (n: number) =>
  n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const int = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });

/** The value shown under a label in a list of figures (<dt>label</dt><dd>value</dd>). */
function figure(scope: Page | Locator, label: string): Locator {
  return scope.locator(`dl div:has(> dt:text-is(${JSON.stringify(label)})) > dd`);
}

/** A table's body, cell texts row by row (found in the DOM: a table in a closed <details> has no role). */
async function tableRows(scope: Locator): Promise<string[][]> {
  const rows = await scope.locator("tbody tr").all();
  return Promise.all(rows.map((row) => row.locator("th, td").allTextContents()));
}

/** The link to a segment's page, by id (names could repeat across families). */
const segmentLink = (segmentId: string) => `a[href$="/segments/${segmentId}"]`;

/** Form controls without an accessible name: each must have a label. */
const UNLABELLED_CONTROLS = `Array.from(document.querySelectorAll("input, select, textarea, button"))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !(el.textContent || "").trim())
  .map((el) => el.outerHTML)`;

/** How long a page may take to show what the API answered (the machine may be busy with other tests). */
const POLL = { timeout: 20_000 };
/** An upload or a saved rule waits for a whole run of the local service. */
const RUN_TIMEOUT = 240_000;

let service: LocalService;
let api: Client;
let browser: Chromium;
let page: Page;
const requests: Array<{ method: string; url: string }> = [];
let uploadUrl = "";
let reportUrl = "";

beforeAll(async () => {
  // Chromium starts while the service does; both are closed after the last test, whichever started.
  const started = await Promise.allSettled([
    startLocalService({ args: ["--no-demo", "--refresh-every", "0"] }).then((s) => {
      service = s;
    }),
    launchChromium().then((b) => {
      browser = b;
    }),
  ]);
  for (const s of started) if (s.status === "rejected") throw s.reason;
  api = createClient({ baseUrl: service.api, token: service.token });
  await api.createDataset({ body: { datasetId: DATASET, settings: { asOf: FIXTURE_AS_OF } } });
  browser.context.on("request", (r) => requests.push({ method: r.method(), url: r.url() }));
  page = await browser.context.newPage();
  // Any error the page logs or throws fails the test it happens in, unless that test expects it.
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => pageErrors.push(`page error: ${error.message}`));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
});

/** Errors the page logged or threw during the current test, and the ones that test expects. */
const pageErrors: string[] = [];
let expectedErrors: RegExp[] = [];

afterEach(() => {
  const unexpected = pageErrors.filter((e) => !expectedErrors.some((pattern) => pattern.test(e)));
  pageErrors.length = 0;
  expectedErrors = [];
  expect(unexpected).toEqual([]);
});

/** A file whose headers are German; the customers K1 (two orders) and K2, worked out by hand. */
const GERMAN = `Kunde,Bestellung,Datum,Betrag,Kanal
K1,B1,2025-05-01,10.00,web
K1,B2,2025-06-01,20.00,shop
K2,B3,2025-06-15,5.50,web
`;

describe("dashboard", () => {
  it("signs in with a dev token, and says plainly why a token is refused", async () => {
    await page.goto(`${service.api}/`);
    const tokenBox = page.getByLabel("Access token");
    const signIn = page.getByRole("button", { name: "Sign in" });

    await tokenBox.fill("not-a-token");
    await signIn.click();
    // The browser logs the refused requests of this test, and only those.
    expectedErrors = [/Failed to load resource: the server responded with a status of 40[13]/];
    await expect.poll(() => page.getByRole("alert").textContent(), POLL).toContain("401");

    // Signed by the service's issuer, but without the read scope that listing datasets needs.
    const writeOnly = await mintToken(await localKeys(service.dataDir), {
      tenant: "demo",
      scopes: ["write"],
      ttlSeconds: 600,
    });
    await page.getByLabel("Access token").fill(writeOnly);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent(), POLL).toContain("403");

    await page.getByLabel("Access token").fill(`export TOKEN=${service.token}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Main" }).waitFor();
    expect(await page.evaluate("sessionStorage.getItem('segmentation.token')")).toBe(service.token);
    // The dataset picker lists exactly the datasets the API lists.
    const listed = (await api.listDatasets({ query: { limit: 50 } })).datasets.map((d) => d.datasetId);
    expect(await page.locator("#dataset option").allTextContents()).toEqual(listed);
  });

  it(
    "uploads a file with a progress bar, then shows the run's outcome as the API reports it",
    async () => {
      await page.goto(`${service.api}/#/upload`);
      await page.getByLabel("Upload to dataset").fill(DATASET);
      await page
        .getByLabel(/^File/)
        .setInputFiles({ name: "orders.csv", mimeType: "text/csv", buffer: Buffer.from(FILE) });
      await page.getByRole("button", { name: "Upload" }).click();
      await page.getByRole("heading", { name: "The run finished" }).waitFor({ timeout: RUN_TIMEOUT });
      expect(await page.locator("#upload-progress").getAttribute("value")).toBe("100");
      expect(await page.locator("#upload-progress-text").textContent()).toBe("100%");

      const { runs } = await api.listRuns({ params: { datasetId: DATASET } });
      const run = runs.find((r) => r.trigger === "upload");
      expect(run?.status).toBe("succeeded");
      const outcome = page.locator(".upload-status");
      expect(await figure(outcome, "Status").textContent()).toBe(run?.status);
      // Worked out from the file: every data row read, the two bad ones rejected.
      expect(number(await figure(outcome, "Rows read").textContent())).toBe(
        GOOD_LINES.length + BAD_ROWS.length,
      );
      expect(number(await figure(outcome, "Rows rejected").textContent())).toBe(BAD_ROWS.length);
      expect(number(await figure(outcome, "Rows accepted").textContent())).toBe(GOOD_LINES.length);
      expect(number(await figure(outcome, "Customers").textContent())).toBe(customersOfFile().size);
      // …and as the API says.
      expect(number(await figure(outcome, "Rows read").textContent())).toBe(run?.counts?.rowsRead);
      expect(number(await figure(outcome, "Customers").textContent())).toBe(run?.counts?.customers);
      expect(await outcome.getByText(run?.reportKey ?? "(no report)").count()).toBe(1);

      // The file went to S3 with one POST to the presigned URL the API handed out, from the page itself.
      const posts = requests.filter((r) => r.method === "POST" && r.url.startsWith(service.s3));
      expect(posts).toHaveLength(1);
      uploadUrl = posts[0]?.url ?? "";
    },
    RUN_TIMEOUT + 30_000,
  );

  it("checks the dataset name with its pattern, which the browser compiles", async () => {
    await page.goto(`${service.api}/#/upload`);
    const name = page.getByLabel("Upload to dataset");
    const mismatch = () =>
      name.evaluate(
        (el) => (el as unknown as { validity: { patternMismatch: boolean } }).validity.patternMismatch,
      );
    await name.fill("orders/2025");
    expect(await mismatch()).toBe(true);
    await name.fill("-orders");
    expect(await mismatch()).toBe(true);
    await name.fill("orders_2025-q2");
    expect(await mismatch()).toBe(false);
  });

  it(
    "proposes a column mapping from the file's header and sends it with the upload",
    async () => {
      await page.goto(`${service.api}/#/upload`);
      await page.getByLabel("Upload to dataset").fill("mapped");
      await page
        .getByLabel(/^File/)
        .setInputFiles({ name: "bestellungen.csv", mimeType: "text/csv", buffer: Buffer.from(GERMAN) });
      const columns = page.getByRole("group", { name: "Columns" });
      await columns.waitFor(POLL);
      // Proposed from names and synonyms; channel by hand (Kanal is not among its synonyms' spellings).
      expect(await columns.getByLabel("customer_id").inputValue()).toBe("Kunde");
      expect(await columns.getByLabel("order_id").inputValue()).toBe("Bestellung");
      expect(await columns.getByLabel("order_date").inputValue()).toBe("Datum");
      expect(await columns.getByLabel("amount").inputValue()).toBe("Betrag");
      await columns.getByLabel("channel (optional)").selectOption("Kanal");
      await page.getByRole("button", { name: "Upload" }).click();
      await page.getByRole("heading", { name: "The run finished" }).waitFor({ timeout: RUN_TIMEOUT });
      const { runs } = await api.listRuns({ params: { datasetId: "mapped" } });
      expect(runs[0]).toMatchObject({
        status: "succeeded",
        counts: { rowsRead: 3, rowsAccepted: 3, customers: 2 },
      });
      const k1 = await api.getCustomer({ params: { datasetId: "mapped", customerId: "K1" } });
      expect(k1.frequency).toBe(2);
      expect(k1.monetary).toBe(30);
    },
    RUN_TIMEOUT + 30_000,
  );

  it(
    "uploads an Amazon Pinpoint endpoint export, with no columns to map, and the run counts its endpoints",
    async () => {
      // Two users: u1 with an email and an SMS endpoint, u2 with one email endpoint; and one endpoint without a
      // user id, which the import counts and skips.
      const endpoint = (id: string, channel: string, address: string, userId?: string) =>
        JSON.stringify({
          Address: address,
          ApplicationId: "611e3e3cdd47474c9c1399a505665b91",
          Attributes: {},
          ChannelType: channel,
          CreationDate: "2019-01-28T23:55:11.534Z",
          EndpointStatus: "ACTIVE",
          Id: id,
          Location: { Country: "USA" },
          OptOut: "NONE",
          ...(userId ? { User: { UserAttributes: {}, UserId: userId } } : {}),
        });
      const lines = [
        endpoint("e1", "EMAIL", "ann@example.com", "u1"),
        endpoint("e2", "SMS", "+11234567890", "u1"),
        endpoint("e3", "EMAIL", "bob@example.com", "u2"),
        endpoint("e4", "EMAIL", "nobody@example.com"),
      ];
      await page.goto(`${service.api}/#/upload`);
      await page.getByLabel("Upload to dataset").fill("pinpoint-ui");
      await page.getByLabel("Kind of file").selectOption("pinpoint-endpoints");
      await page.getByLabel(/^File/).setInputFiles({
        name: "endpoints.jsonl",
        mimeType: "application/x-ndjson",
        buffer: Buffer.from(`${lines.join("\n")}\n`),
      });
      expect(await page.getByRole("group", { name: "Columns" }).isVisible()).toBe(false);
      await page.getByRole("button", { name: "Upload" }).click();
      await page.getByRole("heading", { name: /^The run / }).waitFor({ timeout: RUN_TIMEOUT });
      const { runs } = await api.listRuns({ params: { datasetId: "pinpoint-ui" } });
      expect(runs[0]?.counts).toMatchObject({ endpoints: 4, endpointsWithoutUserId: 1, endpointUsers: 2 });
    },
    RUN_TIMEOUT + 30_000,
  );

  it("shows the dataset's figures and last run as the API reports them", async () => {
    await page.goto(`${service.api}/#/${DATASET}/overview`);
    await page.getByRole("heading", { name: "Current result" }).waitFor();
    const dataset = await api.getDataset({ params: { datasetId: DATASET } });
    const current = dataset.current;
    if (!current) throw new Error("the dataset has no result");
    expect(await figure(page, "Customers").first().textContent()).toBe(int(current.customerCount));
    expect(await figure(page, "Orders").first().textContent()).toBe(int(current.orderCount));
    expect(await figure(page, "Revenue").textContent()).toBe(money(current.revenue));
    expect(await figure(page, "Segments").textContent()).toBe(int(current.segmentCount));
    expect(await figure(page, "Evaluated as of").textContent()).toBe(FIXTURE_AS_OF);
    // Revenue worked out from the file's good rows.
    const revenue = [...customersOfFile().values()].reduce((s, c) => s + c.monetary, 0);
    expect(current.revenue).toBeCloseTo(revenue, 2);
    const lastRun = page.getByRole("region", { name: "Last run" });
    expect(number(await figure(lastRun, "Rows rejected").textContent())).toBe(BAD_ROWS.length);
    expect(await page.getByText("computed sharded").count()).toBe(current.sharded ? 1 : 0);

    // The report link is the run's presigned URL (signed anew per call, so not compared with the API's):
    // clicking it downloads, in the browser itself, a CSV of exactly the file's bad rows.
    const report = lastRun.getByRole("link", { name: "Download the rejected-rows report (CSV)" });
    reportUrl = (await report.getAttribute("href")) ?? "";
    expect(new URL(reportUrl).origin).toBe(new URL(service.s3).origin);
    const [download] = await Promise.all([page.waitForEvent("download", POLL), report.click()]);
    const csv = await readFile(await download.path());
    const rejected = parse(csv, { columns: true }) as Array<{ line: string; column: string; code: string }>;
    // Rejected rows are numbered by the file's line (the header is line 1); the bad rows are the file's last
    // two, wrong in their order_date (month 13) and amount (not a number).
    expect(rejected.map((r) => [Number(r.line), r.column])).toEqual([
      [GOOD_LINES.length + 2, "order_date"],
      [GOOD_LINES.length + 3, "amount"],
    ]);
    expect(rejected.every((r) => r.code.length > 0)).toBe(true);
    expect(page.url()).toContain(`#/${DATASET}/overview`);
  });

  it("shows every segment's size and shares as the API reports them, with charts and a heat map", async () => {
    await page.goto(`${service.api}/#/${DATASET}/segments`);
    await page.getByRole("heading", { name: "Every segment" }).waitFor();
    const list = await api.listSegments({ params: { datasetId: DATASET } });
    const table = page.getByRole("region", { name: "Every segment" }).getByRole("table");
    expect(await table.locator("tbody tr").count()).toBe(list.segments.length);
    for (const s of list.segments) {
      const row = table.locator("tbody tr").filter({ has: page.locator(segmentLink(s.id)) });
      const cells = await row.locator("td").allTextContents();
      expect(number(cells[1] ?? "")).toBe(s.size);
      expect(cells[2]).toBe(`${(s.share * 100).toFixed(1)}%`);
      expect(cells[3]).toBe(money(s.revenue));
      expect(cells[4]).toBe(`${(s.revenueShare * 100).toFixed(1)}%`);
    }
    // The heat map: every cell shows the API's count for it, in the picture and in its table, and each
    // named segment's cells add up to that segment's size.
    const distributions = list.distributions;
    if (!distributions?.clv) throw new Error("the result has no distributions");
    const grid = page.locator("figure.heatmap");
    const rfm = list.segments.filter((s) => s.family === "rfm");
    expect(await grid.locator("svg text.grid-name").count()).toBeGreaterThanOrEqual(rfm.length);
    const shown = await grid
      .locator("svg text.grid-count")
      .evaluateAll((texts) =>
        texts.map((t) => [
          Number(t.getAttribute("data-r")),
          Number(t.getAttribute("data-fm")),
          t.textContent,
        ]),
      );
    expect(shown).toHaveLength(25);
    for (const [r, fm, text] of shown)
      expect(number(text as string)).toBe(distributions.rfmGrid[(r as number) - 1]?.[(fm as number) - 1]);
    const cellRows = await tableRows(grid);
    expect(cellRows).toHaveLength(25);
    const bySegment = new Map<string, number>();
    for (const [r, fm, name, count] of cellRows) {
      expect(number(count ?? "")).toBe(distributions.rfmGrid[Number(r) - 1]?.[Number(fm) - 1]);
      bySegment.set(name ?? "", (bySegment.get(name ?? "") ?? 0) + number(count ?? ""));
    }
    for (const s of rfm) expect(bySegment.get(s.name)).toBe(s.size);
    expect(distributions.rfmGrid.flat().reduce((a, b) => a + b, 0)).toBe(list.customerCount);

    // The CLV histogram's table: one row per bin of the API's histogram, with its count, labelled by its edges.
    const clv = distributions.clv;
    const histogram = page
      .getByRole("region", { name: "Customer lifetime value" })
      .locator("figure", { has: page.locator("figcaption", { hasText: "Customers by predicted CLV" }) });
    const bins = await tableRows(histogram);
    expect(bins.map(([, count]) => number(count ?? ""))).toEqual(clv.counts);
    expect(bins.map(([label]) => label)).toEqual(
      clv.counts.map((_, k) => `${int(clv.edges[k] ?? Number.NaN)}–${int(clv.edges[k + 1] ?? Number.NaN)}`),
    );
    expect(clv.counts.reduce((a, b) => a + b, 0)).toBe(list.customerCount);
    // Each cluster has its card side by side, each Chart.js chart drew on its canvas.
    const clusters = list.segments.filter((s) => s.family === "cluster");
    expect(await page.locator(".cluster h3").allTextContents()).toEqual(clusters.map((c) => c.name));
    const canvases = page.locator("canvas");
    expect(await canvases.count()).toBe(4);
    for (const canvas of await canvases.all())
      expect((await canvas.boundingBox())?.height ?? 0).toBeGreaterThan(100);
    expect(await page.evaluate(UNLABELLED_CONTROLS)).toEqual([]);
  });

  it("shows the overlap matrix of chosen segments as the API answers it, each cell linking to the intersection's members", async () => {
    const list = await api.listSegments({ params: { datasetId: DATASET } });
    const bySize = [...list.segments].sort((a, b) => b.size - a.size);
    const pick = [
      bySize.find((s) => s.family === "rfm"),
      bySize.find((s) => s.family === "lifecycle"),
      bySize.find((s) => s.family === "cluster"),
      bySize.filter((s) => s.family === "rfm")[1],
    ].map((s) => s?.id as string);
    await page.goto(`${service.api}/#/${DATASET}/overlap`);
    await page.getByRole("heading", { name: "Overlap", exact: true }).waitFor();
    await page.locator("table.overlap-matrix").waitFor(POLL);
    // Choose through the form: exactly the four ticked, then compare; the choice goes into the address.
    for (const box of await page.locator("input[name=segment]").all()) {
      await box.setChecked(pick.includes((await box.getAttribute("value")) ?? ""));
    }
    await page.getByRole("button", { name: "Compare" }).click();
    const chosen = () => decodeURIComponent(new URL(page.url()).hash).split("/").at(-1)?.split(",") ?? [];
    await expect.poll(() => chosen().sort(), POLL).toEqual([...pick].sort());
    await expect.poll(() => page.locator("table.overlap-matrix thead th").count(), POLL).toBe(4);

    const answer = await api.getOverlap({ params: { datasetId: DATASET }, body: { segments: chosen() } });
    const cell = (a: string, b: string) => page.locator(`td[data-a="${a}"][data-b="${b}"]`);
    for (const s of answer.segments) {
      expect(number(await cell(s.id, s.id).locator(".overlap-count").textContent())).toBe(s.size);
    }
    for (const p of answer.pairs) {
      for (const [row, col, share] of [
        [p.a, p.b, p.shareOfA],
        [p.b, p.a, p.shareOfB],
      ] as const) {
        const c = cell(row, col);
        expect(number(await c.locator(".overlap-count").textContent())).toBe(p.count);
        expect(await c.locator(".overlap-jaccard").textContent()).toBe(
          `J ${(p.jaccard ?? 0).toLocaleString("en-US", { maximumFractionDigits: 3 })}`,
        );
        expect(await c.locator(".overlap-share").textContent()).toBe(
          `${((share ?? 0) * 100).toFixed(1)}% of row`,
        );
      }
    }
    // Worked out here from member pages too: the first pair's count is the size of their intersection.
    const first = answer.pairs.find((p) => p.count > 0) ?? answer.pairs[0];
    if (!first) throw new Error("no pair");
    const all = async (segmentId: string) => {
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const pageOf = await api.listSegmentMembers({
          params: { datasetId: DATASET, segmentId },
          query: { limit: 1000, cursor },
        });
        ids.push(...pageOf.customerIds);
        cursor = pageOf.nextCursor ?? undefined;
      } while (cursor);
      return ids;
    };
    const inB = new Set(await all(first.b));
    const both = (await all(first.a)).filter((id) => inB.has(id));
    expect(first.count).toBe(both.length);

    // The cell links to the members of the intersection, the API's first page in its order.
    await cell(first.a, first.b).locator("a").click();
    await page.getByRole("heading", { name: /^In both / }).waitFor(POLL);
    await expect.poll(() => figure(page, "Customers in both").textContent(), POLL).toBe(int(both.length));
    const shownIds = await page
      .getByRole("list", { name: "Customers in both" })
      .locator("li")
      .allTextContents();
    expect(shownIds).toEqual(both.slice(0, 50));
    expect(await page.evaluate(UNLABELLED_CONTROLS)).toEqual([]);
  });

  it("opens a segment: economics, history, members page by page, and an export with a download link", async () => {
    const list = await api.listSegments({ params: { datasetId: DATASET } });
    const segment = list.segments.filter((s) => s.family === "rfm").sort((a, b) => b.size - a.size)[0];
    if (!segment || segment.size <= 25)
      throw new Error("the fixture needs an RFM segment of more than one page");
    const segmentId = segment.id;
    await page.goto(`${service.api}/#/${DATASET}/segments`);
    await page.getByRole("region", { name: "Every segment" }).locator(segmentLink(segmentId)).click();
    await page.getByRole("heading", { level: 1, name: segment.name }).waitFor();
    expect(page.url()).toContain(`/segments/${segmentId}`);

    const detail = await api.getSegment({ params: { datasetId: DATASET, segmentId } });
    const economics = page.getByRole("region", { name: "Economics" });
    expect(await figure(economics, "Customers").textContent()).toBe(int(detail.size));
    expect(await figure(economics, "Revenue").textContent()).toBe(money(detail.revenue));
    expect(await figure(economics, "Average order value").textContent()).toBe(
      money(detail.averageOrderValue),
    );
    const history = await api.getSegmentHistory({ params: { datasetId: DATASET, segmentId } });
    const historyRows = page.getByRole("region", { name: "Size across runs" }).locator("tbody tr");
    expect(await historyRows.count()).toBe(history.points.length);
    expect(number(await historyRows.first().locator("td").nth(1).textContent())).toBe(
      history.points[0]?.size,
    );

    const members = page.getByRole("region", { name: "Members" });
    const shown = () => members.locator("ol.members li").allTextContents();
    const first = await api.listSegmentMembers({
      params: { datasetId: DATASET, segmentId },
      query: { limit: 25 },
    });
    await expect.poll(shown, POLL).toEqual(first.customerIds);
    await members.getByRole("button", { name: "Next →" }).click();
    const second = await api.listSegmentMembers({
      params: { datasetId: DATASET, segmentId },
      query: { limit: 25, cursor: first.nextCursor ?? "" },
    });
    await expect.poll(shown, POLL).toEqual(second.customerIds);
    expect(await members.locator(".page-info").textContent()).toBe(
      `Members 26–${25 + second.customerIds.length} of ${int(detail.size)}`,
    );
    await members.getByRole("button", { name: "← Previous" }).click();
    await expect.poll(shown, POLL).toEqual(first.customerIds);

    await page.getByRole("button", { name: "Export members as CSV" }).click();
    const download = page.getByRole("link", { name: "Download the CSV" });
    await download.waitFor();
    const href = (await download.getAttribute("href")) ?? "";
    const csv = await (await fetch(href)).text();
    const rows = parse(csv, { columns: true }) as Array<{ customer_id: string }>;
    // Every member, gathered from the API page by page.
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const p = await api.listSegmentMembers({
        params: { datasetId: DATASET, segmentId },
        query: { limit: 1000, cursor },
      });
      all.push(...p.customerIds);
      cursor = p.nextCursor ?? undefined;
    } while (cursor);
    expect(rows.map((r) => r.customer_id).sort()).toEqual(all.sort());
    expect(await page.getByRole("status").filter({ hasText: "Exported" }).textContent()).toContain(
      `Exported ${int(all.length)} rows`,
    );
  });

  it("shows a segment's profile: each channel's share against all customers with its lift, as the API's liftProfile, hidden cells in words", async () => {
    const list = await api.listSegments({ params: { datasetId: DATASET } });
    const pct = (share: number) =>
      share.toLocaleString("en-US", { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
    const lift = (n: number | null) =>
      n === null ? "—" : `${n.toLocaleString("en-US", { maximumFractionDigits: 2 })}×`;
    let hiddenSeen = 0;
    // The largest RFM segment, and the smallest segment with members (whose cells the k rule hides).
    const withMembers = list.segments.filter((s) => s.size > 0).sort((a, b) => b.size - a.size);
    const chosen = [withMembers.find((s) => s.family === "rfm"), withMembers.at(-1)];
    for (const segment of chosen) {
      if (!segment) throw new Error("the fixture has no segment with members");
      const detail = await api.getSegment({ params: { datasetId: DATASET, segmentId: segment.id } });
      const profile = detail.liftProfile;
      if (!profile) throw new Error(`${segment.id} has no liftProfile`);
      await page.goto(`${service.api}/#/${DATASET}/segments/${segment.id}`);
      const region = page.getByRole("region", { name: "Profile" });
      await region.waitFor();
      const channel = profile.spend.find((d) => d.dimension === "channel");
      if (!channel) throw new Error("the fixture's orders carry a channel");
      if (channel.totalCents === null) {
        await expect.poll(() => region.textContent(), POLL).toContain("Fewer than 10 members have spent");
        hiddenSeen += 1;
        continue;
      }
      const items = [channel.items, channel.other, channel.unassigned].flat().filter((i) => i !== undefined);
      const expected = items.map((i) =>
        i.suppressed
          ? [i.value, "fewer than 10 customers", "—", "—", "—"]
          : [i.value, pct(i.share), pct(i.baseShare), lift(i.lift), i.buyers === null ? "—" : int(i.buyers)],
      );
      hiddenSeen += items.filter((i) => i.suppressed).length;
      await expect.poll(() => tableRows(region.locator("table").first()), POLL).toEqual(expected);
      // The highest lifts first, at most three.
      const readings = items
        .flatMap((i) => (!i.suppressed && i.reading !== undefined && i.lift !== null ? [i] : []))
        .sort((a, b) => (b.lift ?? 0) - (a.lift ?? 0))
        .slice(0, 3)
        .map((i) => `${segment.name} ${i.reading}`);
      expect(await region.locator("ul.readings").first().locator("li").allTextContents()).toEqual(readings);
      expect(readings.length).toBeGreaterThan(0);
      expect(readings[0]).toMatch(/ put .*the average customer's share of their spend through /);
    }
    // The smallest segment shows its hidden cells in words, never as numbers.
    expect(hiddenSeen).toBeGreaterThan(0);
  });

  it(
    "builds a rule segment, previews its size and economics, and saves it",
    async () => {
      await page.goto(`${service.api}/#/${DATASET}/rules`);
      await page.getByLabel("Name").fill("Big repeat spenders");
      await page.getByLabel("Field").selectOption("monetary");
      await page.getByLabel("Operator").selectOption("gte");
      await page.getByLabel("Value").fill("400");
      await page.getByRole("button", { name: "Add a condition" }).click();
      const second = page.getByRole("listitem", { name: "Condition 2" });
      await second.getByLabel("Field").selectOption("frequency");
      await second.getByLabel("Operator").selectOption("gte");
      await second.getByLabel("Value").fill("3");
      expect(await page.getByRole("button", { name: "Save rule segment" }).isDisabled()).toBe(true);
      await page.getByRole("button", { name: "Preview size and economics" }).click();
      await page.getByRole("heading", { name: "If saved now" }).waitFor();

      const rule: Rule = {
        and: [
          { field: "monetary", op: "gte", value: 400 },
          { field: "frequency", op: "gte", value: 3 },
        ],
      };
      const dry = await api.dryRun({
        params: { datasetId: DATASET },
        body: { name: "Big repeat spenders", rule },
      });
      const preview = page.locator(".preview");
      expect(number(await figure(preview, "Customers").textContent())).toBe(dry.size);
      expect(await figure(preview, "Revenue").textContent()).toBe(money(dry.revenue));
      expect(await figure(preview, "Share of customers").textContent()).toBe(
        `${(dry.share * 100).toFixed(1)}%`,
      );
      // The same rule applied here to the file: net spend ≥ 400 and at least 3 orders.
      const expected = [...customersOfFile().values()].filter(
        (c) => c.monetary >= 400 && c.orders >= 3,
      ).length;
      expect(dry.size).toBe(expected);

      await page.getByRole("button", { name: "Save rule segment" }).click();
      await page.getByRole("link", { name: "Open the segment" }).waitFor({ timeout: RUN_TIMEOUT });
      const saved = await api.getDefinition({
        params: { datasetId: DATASET, segmentId: "rule:big-repeat-spenders" },
      });
      expect(saved.rule).toEqual(rule);
      expect(saved.name).toBe("Big repeat spenders");
      await page.getByRole("link", { name: "Open the segment" }).click();
      await page.getByRole("heading", { level: 1, name: "Big repeat spenders" }).waitFor();
      const segment = await api.getSegment({
        params: { datasetId: DATASET, segmentId: "rule:big-repeat-spenders" },
      });
      expect(segment.size).toBe(expected);
      expect(await figure(page.getByRole("region", { name: "Economics" }), "Customers").textContent()).toBe(
        int(segment.size),
      );
      expect(await page.getByRole("region", { name: "Definition" }).textContent()).toContain(
        "total spend is at least 400 and number of orders is at least 3",
      );
      expect(await page.evaluate(UNLABELLED_CONTROLS)).toEqual([]);
    },
    RUN_TIMEOUT + 30_000,
  );

  it("looks up a customer: every membership and score as the API reports them, in words", async () => {
    const { customerIds } = await api.listSegmentMembers({
      params: { datasetId: DATASET, segmentId: "rule:big-repeat-spenders" },
      query: { limit: 1 },
    });
    const customerId = customerIds[0] ?? "";
    await page.goto(`${service.api}/#/${DATASET}/customers`);
    await page.getByLabel("Customer id").fill(customerId);
    await page.getByLabel("Customer id").press("Enter");
    await page.getByRole("heading", { name: `Customer ${customerId}` }).waitFor();
    const customer = await api.getCustomer({ params: { datasetId: DATASET, customerId } });
    expect(await figure(page, "R score").textContent()).toBe(String(customer.scores.r));
    expect(await figure(page, "F score").textContent()).toBe(String(customer.scores.f));
    expect(await figure(page, "M score").textContent()).toBe(String(customer.scores.m));
    expect(await figure(page, "Lifecycle").textContent()).toBe(customer.lifecycle?.name ?? "—");
    expect(await figure(page, "Cluster").textContent()).toBe(customer.cluster?.name ?? "—");
    const p = customer.predictions;
    expect(await figure(page, "CLV").textContent()).toBe(
      p?.clv == null
        ? "—"
        : `${money(p.clv)}${p.clvInterval ? ` (${money(p.clvInterval.low)}–${money(p.clvInterval.high)})` : ""}`,
    );
    // A churn risk the model cannot tell reads "unknown", never 0%.
    expect(await figure(page, "Churn risk").textContent()).toBe(
      !p
        ? "—"
        : p.churnRisk === null
          ? "unknown"
          : new Intl.NumberFormat("en-US", { style: "percent", minimumFractionDigits: 1 }).format(
              p.churnRisk,
            ),
    );
    const memberships = await page
      .locator(".memberships li")
      .evaluateAll((items) => items.map((i) => i.getAttribute("data-segment-id")));
    expect(memberships).toEqual(customer.segments.map((s) => s.id));
    expect(memberships).toContain("rule:big-repeat-spenders");
    // In words, with the file's own figures for this customer.
    const own = customersOfFile().get(customerId);
    const words = (await page.locator("dl.explain").textContent()) ?? "";
    expect(words).toContain(`Spent ${money(own?.monetary ?? Number.NaN)} in all`);
    expect(words).toContain(`${own?.orders} orders since`);
    expect(words).toContain(`R score ${customer.scores.r} of 5`);
    // The history, newest first, line for line as the API reports it.
    const history = await api.getCustomerHistory({ params: { datasetId: DATASET, customerId } });
    const lines = history.entries.flatMap((e) => [
      ...e.entered.map((s) => `Entered ${s.name ?? s.segmentId} on ${e.asOf} (run ${e.runId})`),
      ...e.left.map((s) => `Left ${s.name ?? s.segmentId} on ${e.asOf} (run ${e.runId})`),
    ]);
    expect(await page.locator("ol.history li").allTextContents()).toEqual(lines);
    // Saving the rule segment recomputed the dataset: the customer entered it in that run, after the upload's.
    const entered = history.entries.findIndex((e) =>
      e.entered.some((s) => s.segmentId === "rule:big-repeat-spenders"),
    );
    expect(entered).toBeGreaterThanOrEqual(0);
    expect(history.entries.length).toBeGreaterThan(entered + 1);
  });

  it("shows the predictions page: the holdout chart's numbers and the sentence's figures as the API reports them", async () => {
    const model = await api.getModel({ params: { datasetId: DATASET } });
    await page.goto(`${service.api}/#/${DATASET}/model`);
    await page.getByRole("heading", { name: "Predictions", exact: true }).waitFor();
    const v = model.validation;
    const selected = model.selectedModel;
    if (!v || !selected) throw new Error(`the fixture has no holdout validation: ${model.summary}`);
    const sentence = (await page.locator("#model-summary").textContent()) ?? "";
    expect(sentence).toBe(model.summary);
    const figures =
      /^Over the last ([\d,]+) days the model expected ([\d,]+) repeat purchases; customers made ([\d,]+)\.$/.exec(
        sentence,
      );
    expect(figures?.slice(1).map(number)).toEqual([
      v.holdoutDays,
      Math.round(v.models[selected]?.predictedRepeatPurchases ?? Number.NaN),
      v.actualRepeatPurchases,
    ]);
    // The chart's numbers, from its data table: one row per calibration frequency, actual then each model.
    const names = (["bgNbd", "paretoNbd", "mbgNbd"] as const).filter((n) => v.models[n] !== undefined);
    const rows = await tableRows(page.locator("#holdout-chart table"));
    expect(rows.map((r) => r[0])).toEqual(v.conditionalExpectations.map((r) => r.label));
    v.conditionalExpectations.forEach((expected, i) => {
      const [, customers, actual, ...predicted] = (rows[i] ?? []).map(number);
      expect(customers).toBe(expected.customers);
      expect(actual).toBeCloseTo(expected.meanActual, 3);
      expect(predicted).toHaveLength(names.length);
      names.forEach((name, k) => {
        expect(predicted[k]).toBeCloseTo(expected.meanPredicted[name] ?? Number.NaN, 3);
      });
    });
    // Each model's mean absolute error, shown to four decimals.
    const accuracy = await tableRows(page.locator("#model-accuracy"));
    expect(accuracy).toHaveLength(names.length);
    names.forEach((name, k) => {
      expect(number(accuracy[k]?.[3] ?? "")).toBeCloseTo(v.models[name]?.mae ?? Number.NaN, 3);
    });
    expect(await page.locator("#holdout-chart canvas").count()).toBe(1);
  });

  it(
    "shows the next best category: a customer's with its reason, and the run's hit rate against the most popular category, as the API has them",
    async () => {
      await api.createDataset({
        body: { datasetId: "records", settings: { asOf: FIXTURE_AS_OF, clusters: { enabled: false } } },
      });
      await page.goto(`${service.api}/#/upload`);
      await page.getByLabel("Upload to dataset").fill("records");
      await page.getByLabel(/^File/).setInputFiles({
        name: "records.csv",
        mimeType: "text/csv",
        buffer: Buffer.from(makeCategorizedTransactions()),
      });
      await page.getByRole("button", { name: "Upload" }).click();
      await page.getByRole("heading", { name: "The run finished" }).waitFor({ timeout: RUN_TIMEOUT });
      const dataset = await api.getDataset({ params: { datasetId: "records" } });
      const report = dataset.current?.nextBestCategory;
      if (!report || "skipped" in report) throw new Error(`no hit rate measured: ${JSON.stringify(report)}`);
      expect(report.customersEvaluated).toBeGreaterThan(0);
      const pct = (x: number) =>
        new Intl.NumberFormat("en-US", {
          style: "percent",
          minimumFractionDigits: 1,
          maximumFractionDigits: 1,
        }).format(x);
      await page.goto(`${service.api}/#/records/model`);
      await page.locator("#nbc-summary").waitFor(POLL);
      expect(await page.locator("#nbc-summary").textContent()).toBe(
        `Next best category was right for ${pct(report.hitRate)} of the ${report.customersEvaluated.toLocaleString("en-US")} ` +
          `customers who tried a new category in the last ${report.holdoutDays} days; the most popular category ` +
          `would have been right for ${pct(report.baselineHitRate)}.`,
      );
      // A customer with a recommendation, and one of the RFM segment it is measured in.
      const { customerIds } = await api.listSegmentMembers({
        params: { datasetId: "records", segmentId: "rfm:champions" },
        query: { limit: 50 },
      });
      let chosen: Awaited<ReturnType<Client["getCustomer"]>> | undefined;
      for (const customerId of customerIds) {
        const c = await api.getCustomer({ params: { datasetId: "records", customerId } });
        if (c.nextBestCategory !== null) {
          chosen = c;
          break;
        }
      }
      if (!chosen) throw new Error("no champion has a next best category");
      await page.goto(`${service.api}/#/records/customers/${chosen.customerId}`);
      await page.getByRole("heading", { name: `Customer ${chosen.customerId}` }).waitFor(POLL);
      expect(await page.locator("#next-best-category").textContent()).toBe(
        `Next best category: ${chosen.nextBestCategory}`,
      );
      const segment = chosen.segments.find((s) => s.family === "rfm");
      expect(await page.locator("#next-best-why").textContent()).toBe(
        `Customers in ${segment?.name} buy ${chosen.nextBestCategory} more often than the average customer, and this customer has not bought it yet.`,
      );
    },
    RUN_TIMEOUT + 60_000,
  );

  it(
    "shows attribute segments grouped under their attribute, with the sizes and revenues of a count made from the files",
    async () => {
      // Regions of a customers file, uneven on purpose: north 3/7, south 2/7, east and west 1/7 each; every
      // eleventh customer has no row (unknown). With top 3, the tie of east and west (18 customers each)
      // goes to east, by name.
      const orders = makeTransactions(140, 11);
      const regionOf = (n: number) =>
        n % 11 === 0
          ? undefined
          : (["north", "north", "north", "south", "south", "east", "west"][n % 7] as string);
      const customerLines = ["customer_id,region"];
      const expected = new Map<string, { size: number; cents: number }>();
      const bucketOf = (region: string | undefined) =>
        region === undefined ? "unknown" : ["north", "south", "east"].includes(region) ? region : "other";
      const seen = new Set<string>();
      for (const line of orders.trim().split("\n").slice(1)) {
        const [id = "", , , amount = "0"] = line.split(",");
        const bucket = bucketOf(regionOf(Number(id.slice(1))));
        const entry = expected.get(bucket) ?? { size: 0, cents: 0 };
        if (!seen.has(id)) {
          seen.add(id);
          entry.size += 1;
          const region = regionOf(Number(id.slice(1)));
          if (region !== undefined) customerLines.push(`${id},${region}`);
        }
        entry.cents += Math.round(Number(amount) * 100);
        expected.set(bucket, entry);
      }
      await api.createDataset({
        body: {
          datasetId: "regions",
          settings: {
            asOf: FIXTURE_AS_OF,
            clusters: { enabled: false },
            segmentBy: [{ attribute: "region", top: 3 }],
          },
        },
      });
      for (const [kind, name, text] of [
        ["transactions", "orders.csv", orders],
        ["customers", "regions.csv", `${customerLines.join("\n")}\n`],
      ] as const) {
        await page.goto(`${service.api}/#/upload`);
        await page.getByLabel("Upload to dataset").fill("regions");
        await page.getByLabel("Kind of file").selectOption(kind);
        await page
          .getByLabel(/^File/)
          .setInputFiles({ name, mimeType: "text/csv", buffer: Buffer.from(text) });
        await page.getByRole("button", { name: "Upload" }).click();
        await page.getByRole("heading", { name: "The run finished" }).waitFor({ timeout: RUN_TIMEOUT });
      }
      const list = await api.listSegments({ params: { datasetId: "regions" } });
      const attr = list.segments.filter((s) => s.family === "attr");
      expect(attr.map((s) => s.id).sort()).toEqual([
        "attr:region:east",
        "attr:region:north",
        "attr:region:other",
        "attr:region:south",
        "attr:region:unknown",
      ]);
      for (const s of attr) {
        const bucket = s.id.split(":")[2] as string;
        expect(s.size).toBe(expected.get(bucket)?.size);
        expect(Math.round(s.revenue * 100)).toBe(expected.get(bucket)?.cents);
      }
      await page.goto(`${service.api}/#/regions/segments`);
      const chart = page.locator("figure", {
        has: page.locator("figcaption", { hasText: "Customers and revenue by region" }),
      });
      await chart.waitFor(POLL);
      const rows = await tableRows(chart);
      expect(rows).toHaveLength(attr.length);
      for (const s of attr) {
        const label = s.attribute?.value ?? s.attribute?.kind;
        const row = rows.find((r) => r[0] === label);
        expect(row, `row of ${s.id}`).toBeDefined();
        expect(number(row?.[1] ?? "")).toBe(s.size);
        expect(row?.[2]).toBe(`${(s.share * 100).toFixed(1)}%`);
        expect(row?.[3]).toBe(money(s.revenue));
        expect(row?.[4]).toBe(`${(s.revenueShare * 100).toFixed(1)}%`);
      }
      // Each row links to its segment's page.
      for (const s of attr) expect(await chart.locator(segmentLink(s.id)).count()).toBe(1);
    },
    2 * RUN_TIMEOUT + 60_000,
  );

  it("fits a phone's width and talks to no host but the API and the upload and report URLs", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ["overview", "segments", "rules", "model"]) {
      await page.goto(`${service.api}/#/${DATASET}/${path}`);
      await page.locator("main h1").waitFor();
      await page.waitForLoadState("networkidle");
      expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    }
    const apiOrigin = new URL(service.api).origin;
    const elsewhere = requests.filter(
      (r) => new URL(r.url).origin !== apiOrigin && r.url !== uploadUrl && r.url !== reportUrl,
    );
    expect(elsewhere).toEqual([]);
    expect(requests.length).toBeGreaterThan(20);
  });

  it("creates destinations, shows each as the API has it, rotates a secret, tells a non-admin why the delivery log is hidden, and deletes one", async () => {
    await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: service.api });
    await page.goto(`${service.api}/#/${DATASET}/destinations`);
    await page.getByRole("heading", { name: "Destinations", level: 1 }).waitFor(POLL);
    const { segments } = await api.listSegments({ params: { datasetId: DATASET } });
    const [first, second] = segments;
    if (!first || !second) throw new Error("the dataset has fewer than two segments");

    // A webhook (loopback is allowed by the local service) following two segments.
    await page.getByLabel("Name", { exact: true }).fill("CRM hook");
    await page.getByLabel("Kind").selectOption("webhook");
    await page.getByLabel("URL").fill("http://127.0.0.1:9/hooks/segments");
    await page.getByLabel(`${first.name} (${first.id})`).check();
    await page.getByLabel(`${second.name} (${second.id})`).check();
    await page.getByRole("button", { name: "Create destination" }).click();
    const secretBox = page.getByRole("region", { name: "Secret shown once" });
    await secretBox.waitFor(POLL);
    const secret = await page.getByRole("textbox", { name: "Signing secret" }).inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    await secretBox.getByRole("button", { name: "Copy secret" }).click();
    await expect.poll(() => secretBox.getByText("Copied.").count(), POLL).toBe(1);
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(secret);

    // An S3 member-list destination in JSON lines.
    await page.getByLabel("Name", { exact: true }).fill("Warehouse");
    await page.getByLabel("Kind").selectOption("s3");
    await page.getByLabel("Bucket", { exact: true }).fill("crm-exports");
    await page.getByLabel("Key prefix").fill("daily/");
    await page.getByLabel("File format").selectOption("jsonl");
    await page.getByLabel(`${first.name} (${first.id})`).check();
    await page.getByRole("button", { name: "Create destination" }).click();
    await page.getByRole("status").filter({ hasText: "Warehouse was created." }).waitFor(POLL);

    // Every card says what the API says of its destination.
    const listed = (await api.listDestinations({ params: { datasetId: DATASET } })).destinations;
    expect(listed.map((d) => d.name).sort()).toEqual(["CRM hook", "Warehouse"]);
    const names = new Map(segments.map((s) => [s.id, s.name]));
    for (const d of listed) {
      const card = page.locator(`[data-destination="${d.destinationId}"]`);
      expect(await card.locator("h3").textContent()).toBe(d.name);
      expect(await figure(card, "Status").textContent()).toBe("Enabled");
      expect(await figure(card, "Follows").textContent()).toBe(
        d.segments.map((id) => names.get(id)).join(", "),
      );
      expect(await figure(card, "Sends to").textContent()).toBe(
        d.kind === "webhook"
          ? d.webhook?.url
          : `s3://${d.s3?.bucket}/${d.s3?.prefix} (${d.s3?.format.toUpperCase()})`,
      );
    }
    const hook = listed.find((d) => d.kind === "webhook");
    expect(hook?.segments).toEqual([first.id, second.id]);
    expect(listed.find((d) => d.kind === "s3")?.s3).toMatchObject({
      bucket: "crm-exports",
      prefix: "daily/",
    });
    // The secret is shown once: the page, read again, holds it nowhere.
    await page.reload();
    await page.getByRole("heading", { name: "Destinations", level: 1 }).waitFor(POLL);
    expect(await page.content()).not.toContain(secret);
    // The webhook's delivery log (admin) is there, empty before any run.
    const hookCard = page.locator(`[data-destination="${hook?.destinationId}"]`);
    await hookCard.getByText("No delivery yet").waitFor(POLL);

    // Rotating answers a new secret, once; the API records the rotation.
    await page.getByRole("button", { name: "Rotate the secret of CRM hook" }).click();
    await page.getByRole("region", { name: "Secret shown once" }).waitFor(POLL);
    const rotated = await page.getByRole("textbox", { name: "Signing secret" }).inputValue();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    const after = await api.getDestination({
      params: { datasetId: DATASET, destinationId: hook?.destinationId ?? "" },
    });
    expect(after.webhook?.rotatedAt).toBeDefined();

    // A token without the admin scope sees the destinations but is told why the delivery log is not shown.
    const noAdmin = await mintToken(await localKeys(service.dataDir), {
      tenant: "demo",
      scopes: ["read", "write"],
      ttlSeconds: 600,
    });
    expectedErrors = [/Failed to load resource: the server responded with a status of 403/];
    await page.evaluate(`sessionStorage.setItem('segmentation.token', ${JSON.stringify(noAdmin)})`);
    await page.reload();
    await page.getByText("The delivery log needs the admin scope").waitFor(POLL);
    await page.evaluate(`sessionStorage.setItem('segmentation.token', ${JSON.stringify(service.token)})`);
    await page.reload();
    await hookCard.getByText("No delivery yet").waitFor(POLL);

    // Deleting, once confirmed.
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete Warehouse" }).click();
    await page.getByRole("status").filter({ hasText: "Warehouse was deleted." }).waitFor(POLL);
    const left = (await api.listDestinations({ params: { datasetId: DATASET } })).destinations;
    expect(left.map((d) => d.name)).toEqual(["CRM hook"]);
    expect(await page.locator("[data-destination]").count()).toBe(1);
    expect(await page.evaluate(UNLABELLED_CONTROLS)).toEqual([]);
  });

  // Last: it moves the dataset's evaluation date and recomputes it.
  it(
    "creates a list from pasted ids, adds and removes ids, shows its unknown ids, and offers it to rules",
    async () => {
      const [first, second] = [...customersOfFile().keys()];
      await page.goto(`${service.api}/#/${DATASET}/lists`);
      const create = page.getByRole("form", { name: "Create or replace a list" });
      await create.getByLabel("Name").fill("Already contacted");
      await create.getByLabel("Customer ids").fill(`customer_id\n${first}\n${second}\nnobody-here\n`);
      await create.getByRole("button", { name: "Save list" }).click();
      await page.locator("#lists-status").getByText("Saved list:already-contacted").waitFor();
      const params = { datasetId: DATASET, listId: "already-contacted" };
      expect((await api.getList({ params })).sample).toEqual([first, second, "nobody-here"]);

      const change = page.getByRole("form", { name: "Add or remove ids" });
      await change.getByLabel("List").selectOption("list:already-contacted");
      await change.getByLabel("Customer ids").fill("another-one");
      await change.getByRole("button", { name: "Add ids" }).click();
      await page.locator("#lists-status").getByText("now holds 4 ids").waitFor();
      await change.getByLabel("Customer ids").fill(`${second}`);
      await change.getByRole("button", { name: "Remove ids" }).click();
      await page.locator("#lists-status").getByText("now holds 3 ids").waitFor();
      expect((await api.getList({ params })).sample).toEqual([first, "nobody-here", "another-one"]);

      // The recompute each change asked for: wait for the run that read the list as it is now.
      const deadline = Date.now() + RUN_TIMEOUT;
      let list = await api.getList({ params });
      while (!list.lastRun?.current && Date.now() < deadline) {
        await new Promise((ok) => setTimeout(ok, 250));
        list = await api.getList({ params });
      }
      expect(list.lastRun).toMatchObject({ current: true, members: 1, unknownIds: 2 });
      await page.reload();
      expect(await page.locator('[data-unknown="list:already-contacted"]').textContent()).toBe(
        `2 (${list.lastRun?.unknownSample.join(", ")})`,
      );

      await page.goto(`${service.api}/#/${DATASET}/rules`);
      await page.getByLabel("Field").selectOption("segment");
      expect(await page.getByLabel("Operator").locator("option").allTextContents()).toEqual([
        "is in segment",
        "is not in segment",
      ]);
      expect(await page.getByLabel("Value").locator("option").allTextContents()).toContain(
        "Already contacted (list:already-contacted)",
      );
      expect(await page.evaluate(UNLABELLED_CONTROLS)).toEqual([]);
    },
    RUN_TIMEOUT + 30_000,
  );

  it(
    "finds lookalikes from a segment's page, and shows the model's AUC in words and its weightiest features as the API reports them",
    async () => {
      const { segments } = await api.listSegments({ params: { datasetId: DATASET } });
      const seed = segments.filter((s) => s.family === "rfm").sort((a, b) => b.size - a.size)[0];
      if (!seed) throw new Error("no RFM segment");
      await page.goto(`${service.api}/#/${DATASET}/segments/${seed.id}`);
      const form = page.getByRole("form", { name: "Find lookalikes" });
      await form.getByLabel("Name").fill("Like the largest");
      await form.getByLabel("Size").selectOption("top");
      await form.getByLabel("How many").fill("12");
      await form.getByRole("button", { name: "Find lookalikes" }).click();
      await page.getByRole("link", { name: "Open the lookalike" }).waitFor({ timeout: RUN_TIMEOUT });
      const lookalikeId = "lookalike:like-the-largest";
      expect(await api.getLookalike({ params: { datasetId: DATASET, lookalikeId } })).toMatchObject({
        name: "Like the largest",
        seed: seed.id,
        size: { top: 12 },
      });

      await page.getByRole("link", { name: "Open the lookalike" }).click();
      await page.getByRole("heading", { level: 1, name: "Like the largest" }).waitFor();
      const segment = await api.getSegment({ params: { datasetId: DATASET, segmentId: lookalikeId } });
      const report = segment.lookalike;
      if (!report) throw new Error("the lookalike has no report");
      const seedNow = await api.getSegment({ params: { datasetId: DATASET, segmentId: seed.id } });
      expect(report.seed).toBe(seed.id);
      expect(report.seedSize).toBe(seedNow.size);
      expect(segment.size).toBe(12);

      // The AUC read on the README's scale, worked out here from the API's figure.
      const model = page.getByRole("region", { name: "Model" });
      const auc = report.auc;
      const words =
        auc === null
          ? "no AUC: the seed is too small to hold a part of it out"
          : `AUC ${auc.toFixed(2)}: the seed ${
              auc < 0.6
                ? "does not stand out"
                : auc < 0.7
                  ? "is somewhat distinctive"
                  : auc < 0.9
                    ? "is distinctive"
                    : "is highly distinctive"
            }`;
      expect(await model.locator("[data-auc]").textContent()).toBe(words);
      expect(await figure(model, "Seed members").textContent()).toBe(int(report.seedSize));
      expect(await figure(model, "Held out").textContent()).toBe(
        `${int(report.heldOut.seed)} seed, ${int(report.heldOut.rest)} others`,
      );
      const rows = await tableRows(model.locator("table"));
      expect(rows.map((r) => r[1])).toEqual(
        report.features.map(
          (f) => `${f.weight > 0 ? "+" : f.weight < 0 ? "−" : ""}${Math.abs(f.weight).toFixed(3)}`,
        ),
      );
      expect(
        await model.locator("tbody th span").evaluateAll((els) => els.map((e) => e.getAttribute("title"))),
      ).toEqual(report.features.map((f) => f.name));

      // Its members, none of them in the seed, as the page lists them.
      const members = await api.listSegmentMembers({
        params: { datasetId: DATASET, segmentId: lookalikeId },
        query: { limit: 100 },
      });
      const seedMembers = await api.listSegmentMembers({
        params: { datasetId: DATASET, segmentId: seed.id },
        query: { limit: 1000 },
      });
      expect(members.customerIds.filter((id) => seedMembers.customerIds.includes(id))).toEqual([]);
      const listed = page.getByRole("region", { name: "Members" });
      await expect.poll(() => listed.locator("ol li").allTextContents(), POLL).toEqual(members.customerIds);
      expect(await page.evaluate(UNLABELLED_CONTROLS)).toEqual([]);
    },
    RUN_TIMEOUT + 30_000,
  );

  it(
    "warns on the overview, in the run's words, when the data ends long before the evaluation date",
    async () => {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`${service.api}/#/${DATASET}/overview`);
      await page.getByRole("heading", { name: "Current result" }).waitFor();
      expect(await page.locator("[data-issue]").count()).toBe(0);
      const before = (await api.getDataset({ params: { datasetId: DATASET } })).current;
      expect(before?.issues.map((i) => i.code)).not.toContain("STALE_DATA");

      // Evaluated as of 2027-01-01, the file's latest order (worked out here) is far more than 180 days back.
      const latest = GOOD_LINES.map((line) => line.split(",")[2] as string)
        .sort()
        .at(-1) as string;
      const gap = (Date.parse("2027-01-01") - Date.parse(latest)) / 86_400_000;
      expect(gap).toBeGreaterThan(180);
      // Value models and clusters off: the warning comes from the RFM stage, and this keeps the run short.
      await api.putSettings({
        params: { datasetId: DATASET },
        body: { asOf: "2027-01-01", value: { enabled: false }, clusters: { enabled: false } },
      });
      const deadline = Date.now() + RUN_TIMEOUT;
      let current = before;
      while (current?.asOf !== "2027-01-01") {
        if (Date.now() > deadline) throw new Error("the recompute did not finish");
        await new Promise((resolve) => setTimeout(resolve, 500));
        current = (await api.getDataset({ params: { datasetId: DATASET } })).current;
      }
      const stale = current?.issues.find((i) => i.code === "STALE_DATA");
      expect(stale?.stage).toBe("data");
      expect(stale?.message).toContain(`The latest order (${latest}) is ${int(gap)} days before`);
      expect(stale?.message).toContain("every customer looks lapsed");

      await page.reload();
      await page.getByRole("heading", { name: "Current result" }).waitFor();
      const warning = page.locator('[data-issue="STALE_DATA"]');
      await warning.waitFor(POLL);
      expect(await warning.textContent()).toBe(stale?.message);
      expect(await figure(page, "Evaluated as of").textContent()).toBe("2027-01-01");
    },
    RUN_TIMEOUT + 30_000,
  );
});
