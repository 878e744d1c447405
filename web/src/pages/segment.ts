import { RFM_SEGMENTS, SEGMENT_GRID } from "../../../shared/engine/rfm";
import { describeError } from "../api";
import { chartFigure, lineConfig } from "../charts";
import { FAMILY_LABEL, link, type PageContext } from "../context";
import { append, fmt, h, notice, replace, stats, table } from "../dom";
import { lookalikeForm, lookalikeModelSection } from "../lookalike";
import { profileSection } from "../profile";
import { describeRule } from "../rule-text";

const PAGE_SIZE = 25;

export async function segmentPage(ctx: PageContext, root: HTMLElement, segmentId: string): Promise<void> {
  const datasetId = ctx.datasetId as string;
  const [segment, history, dataset] = await Promise.all([
    ctx.api.getSegment({ params: { datasetId, segmentId } }),
    ctx.api.getSegmentHistory({ params: { datasetId, segmentId }, query: { limit: 30 } }),
    ctx.api.getDataset({ params: { datasetId } }),
  ]);
  root.append(
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: link(datasetId, "segments") }, "Segments"),
      " / ",
      FAMILY_LABEL[segment.family],
    ),
    h("h1", {}, segment.name),
    h("p", { class: "lead" }, segment.description),
  );
  root.append(
    h(
      "section",
      { "aria-labelledby": "economics" },
      h("h2", { id: "economics" }, "Economics"),
      stats(
        [
          ["Customers", fmt.int(segment.size)],
          ["Share of customers", fmt.pct(segment.share)],
          ["Revenue", fmt.money(segment.revenue)],
          ["Share of revenue", fmt.pct(segment.revenueShare)],
          ["Average order value", fmt.money(segment.averageOrderValue)],
          [
            "Mean CLV",
            typeof segment.meanClv === "number" &&
            typeof segment.meanClvLow === "number" &&
            typeof segment.meanClvHigh === "number"
              ? `${fmt.money(segment.meanClv)} (80%: ${fmt.money(segment.meanClvLow)}–${fmt.money(segment.meanClvHigh)})`
              : fmt.money(segment.meanClv),
          ],
          ["Mean probability alive", fmt.pct(segment.meanProbabilityAlive)],
          ["Mean days since last order", fmt.num(segment.profile?.meanRecencyDays, 0)],
          ["Mean orders", fmt.num(segment.profile?.meanFrequency, 1)],
        ],
        "stats tiles",
      ),
    ),
  );
  const definition = h(
    "section",
    { "aria-labelledby": "definition" },
    h("h2", { id: "definition" }, "Definition"),
  );
  if (segment.definition) {
    append(
      definition,
      h("p", {}, "Customers whose ", describeRule(segment.definition.rule), "."),
      h(
        "p",
        { class: "help" },
        `Saved ${fmt.date(segment.definition.updatedAt)}. `,
        h("a", { href: link(datasetId, "rules", segmentId) }, "Edit this rule"),
      ),
    );
  } else if (segment.family === "rfm") {
    const cells: string[] = [];
    for (let r = 5; r >= 1; r--)
      for (let fm = 1; fm <= 5; fm++)
        if (RFM_SEGMENTS[SEGMENT_GRID[r - 1]?.[fm - 1] ?? -1]?.id === segment.id) cells.push(`R${r} FM${fm}`);
    append(
      definition,
      h(
        "p",
        {},
        `Customers whose recency score R and combined frequency-and-spend score FM (the mean of F and M, rounded half up) fall in the cells ${cells.join(", ")} of the RFM grid.`,
      ),
    );
  } else {
    append(definition, h("p", {}, `${FAMILY_LABEL[segment.family]}: ${segment.description}`));
  }
  root.append(definition);
  if (segment.lookalike) root.append(lookalikeModelSection(datasetId, segment.lookalike));
  else if (segment.family !== "lookalike") root.append(lookalikeForm(ctx, datasetId, segment));
  root.append(profileSection(segment.name, segment.liftProfile, dataset.settings.profiles?.k ?? 10));

  const points = [...history.points].reverse();
  root.append(
    h(
      "section",
      { "aria-labelledby": "history" },
      h("h2", { id: "history" }, "Size across runs"),
      points.length > 0
        ? chartFigure({
            title: "Customers in the segment at each run",
            summary: `From ${fmt.int(points[0]?.size ?? 0)} to ${fmt.int(points.at(-1)?.size ?? 0)} customers over ${points.length} runs.`,
            config: lineConfig(
              points.map((p) => `v${p.version}${p.asOf ? ` · ${p.asOf}` : ""}`),
              "Customers",
              points.map((p) => p.size),
            ),
            table: table(
              "Segment size by run, newest first",
              ["Run", "As of", "Customers", "Share", "Revenue"],
              history.points.map((p) => [
                h("code", {}, p.runId),
                p.asOf ?? "—",
                fmt.int(p.size),
                fmt.pct(p.share),
                fmt.money(p.revenue),
              ]),
              { numeric: [2, 3, 4] },
            ),
            height: 220,
          })
        : h("p", {}, "No completed run has this segment yet."),
    ),
  );

  root.append(membersSection(ctx, datasetId, segmentId));
  root.append(exportSection(ctx, datasetId, segmentId));
}

function membersSection(ctx: PageContext, datasetId: string, segmentId: string): HTMLElement {
  const body = h("div", { class: "members-body", "aria-live": "polite" });
  const section = h("section", { "aria-labelledby": "members" }, h("h2", { id: "members" }, "Members"), body);
  // Cursors of the pages seen so far: pages[i] is the cursor that fetches page i (undefined for the first).
  const cursors: Array<string | undefined> = [undefined];
  let index = 0;
  const show = async () => {
    try {
      const page = await ctx.api.listSegmentMembers({
        params: { datasetId, segmentId },
        query: { limit: PAGE_SIZE, cursor: cursors[index] },
      });
      if (page.nextCursor) cursors[index + 1] = page.nextCursor;
      const first = index * PAGE_SIZE + 1;
      const last = index * PAGE_SIZE + page.customerIds.length;
      const list = h(
        "ol",
        { class: "members", start: first, "aria-label": `Members ${first} to ${last}` },
        ...page.customerIds.map((id) => h("li", {}, h("a", { href: link(datasetId, "customers", id) }, id))),
      );
      const prev = h("button", { type: "button", disabled: index === 0 }, "← Previous");
      const next = h("button", { type: "button", disabled: !page.nextCursor }, "Next →");
      prev.addEventListener("click", () => {
        index -= 1;
        void show().then(() => (section.querySelector("button") as HTMLButtonElement | null)?.focus());
      });
      next.addEventListener("click", () => {
        index += 1;
        void show().then(() =>
          (section.querySelectorAll("button")[1] as HTMLButtonElement | undefined)?.focus(),
        );
      });
      replace(
        body,
        h(
          "p",
          { class: "page-info" },
          page.customerIds.length === 0
            ? "No members."
            : `Members ${fmt.int(first)}–${fmt.int(last)} of ${fmt.int(page.size)}`,
        ),
        list,
        h("div", { class: "pager" }, prev, next),
      );
    } catch (error) {
      replace(body, notice("error", describeError(error)));
    }
  };
  void show();
  return section;
}

function exportSection(ctx: PageContext, datasetId: string, segmentId: string): HTMLElement {
  const result = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "button" }, "Export members as CSV");
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(result, notice("info", "Preparing the export…"));
    try {
      const made = await ctx.api.createExport({ params: { datasetId, segmentId }, body: {} });
      replace(
        result,
        h(
          "p",
          { class: "notice notice-success", role: "status" },
          `Exported ${fmt.int(made.rows)} rows. `,
          h(
            "a",
            { href: made.url, download: `${segmentId.replace(/[^a-z0-9-]+/gi, "-")}.csv`, class: "download" },
            "Download the CSV",
          ),
          ` (link valid until ${fmt.date(made.expiresAt)}).`,
        ),
      );
    } catch (error) {
      replace(result, notice("error", describeError(error)));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { "aria-labelledby": "export" }, h("h2", { id: "export" }, "Export"), button, result);
}
