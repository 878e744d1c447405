import { barConfig, chartFigure, rfmHeatMap } from "../charts";
import { FAMILY_LABEL, link, type PageContext, type Segment } from "../context";
import { fmt, h, stats, table } from "../dom";
import { segmentPage } from "./segment";

/** Lifecycle stages in the order a customer moves through them. */
const LIFECYCLE_ORDER = [
  "lifecycle:new",
  "lifecycle:active",
  "lifecycle:reactivated",
  "lifecycle:cooling",
  "lifecycle:lapsed",
];

/** A bin's amounts as a range, "1,000–2,000"; the 1-2-5 edges are whole amounts, shown without cents. */
function binLabel(low: number, high: number): string {
  const amount = (n: number) => (Number.isInteger(n) ? fmt.int(n) : fmt.money(n));
  return `${amount(low)}–${amount(high)}`;
}

/** How many customers have a predicted CLV in each bin of the result's histogram. */
function clvHistogram(
  clv: { edges: number[]; counts: number[] },
  customerCount: number,
  currency: string | undefined,
): HTMLElement {
  const amounts = currency ? `Predicted CLV (${currency})` : "Predicted CLV";
  const labels = clv.counts.map((_, k) => binLabel(clv.edges[k] ?? 0, clv.edges[k + 1] ?? 0));
  const total = clv.counts.reduce((a, b) => a + b, 0) || customerCount || 1;
  return chartFigure({
    title: "Customers by predicted CLV",
    summary:
      "How many customers have a predicted lifetime value in each range; the ranges widen in steps of 1, 2 and 5.",
    config: barConfig(labels, [{ label: "Customers", data: clv.counts }], {
      histogram: true,
      titles: { index: amounts, value: "Customers" },
    }),
    table: table(
      "Customers by predicted CLV",
      [amounts, "Customers", "Share"],
      clv.counts.map((n, k) => [labels[k] ?? "", fmt.int(n), fmt.pct(n / total)]),
      { numeric: [1, 2] },
    ),
    height: 300,
  });
}

/** Attribute segments grouped by their attribute, in the order the API lists them. */
function attributeGroups(segments: Segment[]): [string, Segment[]][] {
  const groups = new Map<string, Segment[]>();
  for (const s of segments) {
    // The attribute's name; a summary without one is grouped by its id's attribute part.
    const name = s.attribute?.name ?? s.id.split(":")[1] ?? s.id;
    groups.set(name, [...(groups.get(name) ?? []), s]);
  }
  return [...groups];
}

/** One attribute's segments: shares of customers and of revenue, and a table linking each segment. */
function attributeFigure(datasetId: string, name: string, segments: Segment[]): HTMLElement {
  const label = (s: Segment) => s.attribute?.value ?? (s.attribute?.kind === "other" ? "other" : "unknown");
  return chartFigure({
    title: `Customers and revenue by ${name}`,
    summary: `For each ${name} segment, its share of all customers next to its share of all revenue.`,
    config: barConfig(
      segments.map(label),
      [
        { label: "Customers", data: segments.map((s) => s.share), percent: true },
        { label: "Revenue", data: segments.map((s) => s.revenueShare), percent: true },
      ],
      { horizontal: true, percentAxis: true },
    ),
    table: table(
      `Segments by ${name}`,
      [name, "Customers", "Share", "Revenue", "Revenue share", "Avg order"],
      segments.map((s) => [
        h("a", { href: link(datasetId, "segments", s.id) }, label(s)),
        fmt.int(s.size),
        fmt.pct(s.share),
        fmt.money(s.revenue),
        fmt.pct(s.revenueShare),
        fmt.money(s.averageOrderValue),
      ]),
      { numeric: [1, 2, 3, 4, 5] },
    ),
    height: Math.max(160, 40 + 28 * segments.length),
  });
}

function section(id: string, title: string, ...children: Array<Node | null>): HTMLElement {
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export async function segmentsPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  if (ctx.args[0]) return segmentPage(ctx, root, ctx.args[0]);
  root.append(h("h1", {}, "Segments"));
  const [list, dataset] = await Promise.all([
    ctx.api.listSegments({ params: { datasetId } }),
    ctx.api.getDataset({ params: { datasetId } }),
  ]);
  root.append(
    h(
      "p",
      { class: "lead" },
      `${fmt.int(list.customerCount)} customers evaluated as of ${list.asOf} (version ${list.version}).`,
    ),
  );
  const family = (f: Segment["family"]) => list.segments.filter((s) => s.family === f);
  const rfm = family("rfm");
  const clusters = family("cluster");
  const lifecycle = family("lifecycle").sort(
    (a, b) => LIFECYCLE_ORDER.indexOf(a.id) - LIFECYCLE_ORDER.indexOf(b.id),
  );
  const rules = family("rule");
  const attributes = attributeGroups(family("attr"));

  if (rfm.length > 0) {
    const sorted = [...rfm].sort((a, b) => b.size - a.size);
    root.append(
      section(
        "rfm",
        "RFM segments",
        h(
          "div",
          { class: "grid-2" },
          rfmHeatMap(rfm, list.distributions?.rfmGrid ?? null),
          chartFigure({
            title: "Share of customers and of revenue",
            summary: "For each RFM segment, its share of all customers next to its share of all revenue.",
            config: barConfig(
              sorted.map((s) => s.name),
              [
                { label: "Customers", data: sorted.map((s) => s.share), percent: true },
                { label: "Revenue", data: sorted.map((s) => s.revenueShare), percent: true },
              ],
              { horizontal: true, percentAxis: true },
            ),
            table: table(
              "RFM segments: customers and revenue",
              ["Segment", "Customers", "Share", "Revenue share"],
              sorted.map((s) => [s.name, fmt.int(s.size), fmt.pct(s.share), fmt.pct(s.revenueShare)]),
              { numeric: [1, 2, 3] },
            ),
            height: 420,
          }),
        ),
      ),
    );
  }

  if (clusters.length > 0)
    root.append(
      section(
        "clusters",
        "Behavioural clusters",
        h(
          "p",
          { class: "help" },
          "Groups of customers who buy alike, found by k-means on recency, frequency and spend.",
        ),
        h(
          "ul",
          { class: "cards" },
          ...clusters.map((c) =>
            h(
              "li",
              { class: "card cluster" },
              h("h3", {}, h("a", { href: link(datasetId, "segments", c.id) }, c.name)),
              h("p", {}, c.description),
              stats([
                ["Customers", `${fmt.int(c.size)} (${fmt.pct(c.share)})`],
                ["Revenue share", fmt.pct(c.revenueShare)],
                ["Mean days since last order", fmt.num(c.profile?.meanRecencyDays, 0)],
                ["Mean orders", fmt.num(c.profile?.meanFrequency, 1)],
                ["Mean spend", fmt.money(c.profile?.meanMonetary)],
                ["Mean CLV", fmt.money(c.meanClv)],
              ]),
            ),
          ),
        ),
      ),
    );

  if (lifecycle.length > 0)
    root.append(
      section(
        "lifecycle",
        "Lifecycle funnel",
        chartFigure({
          title: "Customers by lifecycle stage",
          summary: "How many customers are new, active, reactivated, cooling and lapsed.",
          config: barConfig(
            lifecycle.map((s) => s.name),
            [{ label: "Customers", data: lifecycle.map((s) => s.size) }],
            {
              horizontal: true,
            },
          ),
          table: table(
            "Lifecycle stages",
            ["Stage", "Customers", "Share", "Revenue share"],
            lifecycle.map((s) => [s.name, fmt.int(s.size), fmt.pct(s.share), fmt.pct(s.revenueShare)]),
            { numeric: [1, 2, 3] },
          ),
          height: 220,
        }),
      ),
    );

  if (attributes.length > 0)
    root.append(
      section(
        "attributes",
        "Attribute segments",
        h(
          "p",
          { class: "help" },
          "Customers by an attribute of the customers file (the dataset's segmentBy setting): each value, band or cohort is a segment with its own economics.",
        ),
        ...attributes.map(([name, segments]) => attributeFigure(datasetId, name, segments)),
      ),
    );

  const withClv = list.segments.filter(
    (s) => (s.family === "rfm" || s.family === "cluster") && typeof s.meanClv === "number",
  );
  const histogram = list.distributions?.clv;
  if (withClv.length > 0 || histogram) {
    const sorted = [...withClv].sort((a, b) => (b.meanClv ?? 0) - (a.meanClv ?? 0));
    root.append(
      section(
        "clv",
        "Customer lifetime value",
        h(
          "p",
          { class: "help" },
          "Predicted value of the coming year per customer (BG/NBD and Gamma-Gamma): how it spreads over all customers, and its mean in each segment and cluster.",
        ),
        histogram ? clvHistogram(histogram, list.customerCount, dataset.settings.currency) : null,
        withClv.length > 0
          ? chartFigure({
              title: "Mean predicted CLV by segment",
              summary: "The mean predicted lifetime value of a customer in each RFM segment and cluster.",
              config: barConfig(
                sorted.map((s) => s.name),
                [{ label: "Mean CLV", data: sorted.map((s) => s.meanClv ?? 0) }],
                {
                  horizontal: true,
                },
              ),
              table: table(
                "Mean predicted CLV",
                ["Segment", "Kind", "Customers", "Mean CLV", "Predicted value"],
                sorted.map((s) => [
                  s.name,
                  FAMILY_LABEL[s.family],
                  fmt.int(s.size),
                  fmt.money(s.meanClv),
                  fmt.money((s.meanClv ?? 0) * s.size),
                ]),
                { numeric: [2, 3, 4] },
              ),
              height: 380,
            })
          : null,
      ),
    );
  }

  const all = [
    ...rfm,
    ...clusters,
    ...lifecycle,
    ...attributes.flatMap(([, segments]) => segments),
    ...rules,
  ];
  root.append(
    section(
      "all",
      "Every segment",
      h(
        "div",
        { class: "table-scroll" },
        table(
          "Every segment with its economics",
          ["Segment", "Kind", "Customers", "Share", "Revenue", "Revenue share", "Avg order", "Mean CLV"],
          all.map((s) => [
            h("a", { href: link(datasetId, "segments", s.id) }, s.name),
            FAMILY_LABEL[s.family],
            fmt.int(s.size),
            fmt.pct(s.share),
            fmt.money(s.revenue),
            fmt.pct(s.revenueShare),
            fmt.money(s.averageOrderValue),
            fmt.money(s.meanClv),
          ]),
          { numeric: [2, 3, 4, 5, 6, 7], captionHidden: true },
        ),
      ),
    ),
  );
}
