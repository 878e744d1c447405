/**
 * Screenshots of the dashboard for the README: starts the local service without the CDNOW demo, creates a
 * dataset and uploads a generated file of 600 customers through the dashboard's own upload page, then
 * photographs the main pages in Debian's Chromium at laptop width and two at phone width.
 *
 *   npm run screenshots [-- --out docs/screenshots] [--api http://127.0.0.1:3000 --token <token>]
 *
 * With --api and --token it uses a running service instead of starting one.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createClient } from "../shared/client";
import { launchChromium } from "../test/browser/chromium";
import { FIXTURE_AS_OF, makeTransactions } from "../test/browser/fixture";
import { startLocalService } from "../test/e2e/local-service";
import { checkOrExit, parseOrExit, UsageError } from "./cli";

const CLI = {
  name: "screenshots",
  usage: `usage: npm run screenshots -- [--out docs/screenshots] [--api <url> --token <jwt>] [--dataset shop]
  --out            where the PNG files go (default docs/screenshots)
  --api, --token   use a running service instead of starting one (both or neither)
  --dataset        the dataset to create and photograph (default shop)
`,
  options: {
    out: { type: "string", default: "docs/screenshots" },
    api: { type: "string" },
    token: { type: "string" },
    dataset: { type: "string", default: "shop" },
  },
} as const;
const { values: args } = parseOrExit(CLI);
checkOrExit(CLI, () => {
  if ((args.api === undefined) !== (args.token === undefined))
    throw new UsageError("--api and --token go together");
});

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main() {
  const out = resolve(args.out);
  await mkdir(out, { recursive: true });
  const service =
    args.api && args.token
      ? undefined
      : await startLocalService({ args: ["--no-demo", "--refresh-every", "0"] });
  const api = args.api ?? service?.api ?? "";
  const token = args.token ?? service?.token ?? "";
  const datasetId = args.dataset;
  const client = createClient({ baseUrl: api, token });
  const browser = await launchChromium({ width: 1280, height: 900 });
  try {
    const existing = (await client.listDatasets({ query: { limit: 50 } })).datasets.find(
      (d) => d.datasetId === datasetId,
    );
    if (!existing)
      await client.createDataset({ body: { datasetId, settings: { asOf: FIXTURE_AS_OF, currency: "USD" } } });
    const fresh = !existing?.current;

    const page = await browser.context.newPage();
    const shot = async (name: string, full = true) => {
      await page.waitForLoadState("networkidle");
      await page.screenshot({ path: join(out, `${name}.png`), fullPage: full });
      say(`wrote ${join(args.out, `${name}.png`)}`);
    };
    await page.goto(`${api}/`);
    await page.getByLabel("Access token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Main" }).waitFor();

    await page.goto(`${api}/#/upload`);
    await page.getByLabel("Upload to dataset").fill(datasetId);
    const file = join(tmpdir(), "orders-2025.csv");
    // Two rows the reader rejects, so the pages show a report.
    await writeFile(
      file,
      `${makeTransactions(600, 11)}C9001,OBAD1,2025-13-01,10.00,web\nC9002,OBAD2,2025-05-01,abc,web\n`,
    );
    if (fresh) {
      await page.getByLabel(/^File/).setInputFiles(file);
      await page.getByRole("button", { name: "Upload" }).click();
      await page.getByRole("heading", { name: /The run/ }).waitFor({ timeout: 300_000 });
    }
    await shot("upload");

    await page.goto(`${api}/#/${datasetId}/rules`);
    await page.getByLabel("Name").fill("Loyal big spenders");
    await page.getByLabel("Value").fill("300");
    await page.getByRole("button", { name: "Add a condition" }).click();
    await page.getByRole("button", { name: "Preview size and economics" }).click();
    await page.getByRole("heading", { name: "If saved now" }).waitFor();
    await shot("rule-editor");
    // Saving recomputes the dataset: the segment pages then show a second run in their history.
    await page.getByRole("button", { name: "Save rule segment" }).click();
    await page.getByRole("link", { name: "Open the segment" }).waitFor({ timeout: 180_000 });

    await page.goto(`${api}/#/${datasetId}/overview`);
    await page.getByRole("heading", { name: "Current result" }).waitFor();
    await shot("overview");

    await page.goto(`${api}/#/${datasetId}/segments`);
    await page.getByRole("heading", { name: "Every segment" }).waitFor();
    await shot("segments");

    await page.goto(`${api}/#/${datasetId}/segments/rfm:champions`);
    await page.getByText(/^Members 1–/).waitFor();
    await shot("segment");

    const members = await client.listSegmentMembers({
      params: { datasetId, segmentId: "rfm:champions" },
      query: { limit: 1 },
    });
    await page.goto(`${api}/#/${datasetId}/customers/${members.customerIds[0] ?? ""}`);
    await page.getByRole("heading", { name: "In words" }).waitFor();
    await shot("customer");

    await page.goto(`${api}/#/${datasetId}/model`);
    await page.locator("#holdout-chart canvas").waitFor();
    await shot("model");

    await page.goto(`${api}/#/${datasetId}/overlap`);
    await page.locator("table.overlap-matrix").waitFor();
    await shot("overlap");

    // A list and a destination to show: the list of the first ten champions, a webhook following it and
    // the champions (the local service allows loopback webhooks; nothing listens there, so the log shows
    // the attempts).
    const champions = await client.listSegmentMembers({
      params: { datasetId, segmentId: "rfm:champions" },
      query: { limit: 10 },
    });
    await client.putList({
      params: { datasetId, listId: "already-contacted" },
      body: { name: "Already contacted", customerIds: [...champions.customerIds, "C-not-a-customer"] },
    });
    const destinations = await client.listDestinations({ params: { datasetId } });
    if (!destinations.destinations.some((d) => d.name === "CRM"))
      await client.createDestination({
        params: { datasetId },
        body: {
          name: "CRM",
          kind: "webhook",
          segments: ["rfm:champions", "list:already-contacted"],
          webhook: { url: "http://127.0.0.1:9/hooks/segments" },
        },
      });
    await page.goto(`${api}/#/${datasetId}/lists`);
    await page.getByRole("table", { name: "Lists" }).waitFor();
    await shot("lists");
    await page.goto(`${api}/#/${datasetId}/destinations`);
    await page.getByRole("heading", { name: "Destinations", level: 1 }).waitFor();
    await page.getByText("CRM").first().waitFor();
    await shot("destinations");

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${api}/#/${datasetId}/segments`);
    await page.getByRole("heading", { name: "Every segment" }).waitFor();
    await shot("phone-segments", false);
    await page.goto(`${api}/#/${datasetId}/overview`);
    await page.getByRole("heading", { name: "Current result" }).waitFor();
    await shot("phone-overview", false);
    await page.close();
  } finally {
    await browser.close();
    await service?.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
