/**
 * A segment's profile with lift on the segment page: for each spend dimension (category, channel) and each
 * categorical attribute, the segment's share of each value beside all customers' share, with the lift and
 * the reading in words; numeric attributes as quartiles against the base; dates by bucket. A cell the
 * service suppressed (fewer than k customers, or hidden so that none can be worked out) is shown as "fewer
 * than k customers", never as a number, and is left out of the chart.
 */
import type { RouteOutput } from "../../shared/client";
import { barConfig, chartFigure } from "./charts";
import { fmt, h } from "./dom";

export type LiftProfile = NonNullable<RouteOutput<"getSegment">["liftProfile"]>;
type Item = LiftProfile["spend"][number]["items"][number];
type CountItem = Extract<LiftProfile["attributes"][number], { kind: "categorical" }>["items"][number];
type Shown<T> = Extract<T, { suppressed: false }>;

const DIMENSION_LABEL = { category: "category", channel: "channel" } as const;

/** "2.3×" for a lift, "—" without one. */
export function liftLabel(lift: number | null): string {
  return lift === null ? "—" : `${fmt.num(lift, 2)}×`;
}

function hiddenText(k: number): string {
  return `fewer than ${k} customers`;
}

/** The rows of a table of items: value, share in the segment, all customers' share, lift, and a count. */
function itemRows(
  items: readonly (Item | CountItem)[],
  k: number,
  count: (item: Shown<Item | CountItem>) => string,
): string[][] {
  return items.map((item) =>
    item.suppressed
      ? [item.value, hiddenText(k), "—", "—", "—"]
      : [item.value, fmt.pct(item.share), fmt.pct(item.baseShare), liftLabel(item.lift), count(item)],
  );
}

/** A bar chart of the shown items' shares against the base, their table, and the readings of the top ones. */
function sharesFigure(
  title: string,
  segmentName: string,
  items: readonly (Item | CountItem)[],
  k: number,
  countHeader: string,
  count: (item: Shown<Item | CountItem>) => string,
): HTMLElement {
  const shown = items.filter((i): i is Shown<Item | CountItem> => !i.suppressed);
  const hidden = items.length - shown.length;
  // The three readings that stand out most: the highest lifts first (the table's order among equals).
  const readings = shown
    .filter((i) => i.reading !== undefined && i.lift !== null)
    .sort((a, b) => (b.lift ?? 0) - (a.lift ?? 0))
    .slice(0, 3);
  const top = [...shown].filter((i) => i.lift !== null).sort((a, b) => (b.lift ?? 0) - (a.lift ?? 0))[0];
  const summary =
    top === undefined
      ? `No value of this table covers ${k} customers or more.`
      : `Highest lift: ${top.value}, ${fmt.pct(top.share)} of the segment against ${fmt.pct(top.baseShare)} of all customers (${liftLabel(top.lift)}).`;
  return h(
    "div",
    { class: "profile-table" },
    chartFigure({
      title,
      summary: hidden > 0 ? `${summary} ${hidden} hidden (${hiddenText(k)}).` : summary,
      config: barConfig(
        shown.map((i) => i.value),
        [
          { label: segmentName, data: shown.map((i) => i.share), percent: true },
          { label: "All customers", data: shown.map((i) => i.baseShare), percent: true },
        ],
        { horizontal: true, percentAxis: true },
      ),
      table: table(
        title,
        ["Value", "Share in segment", "All customers", "Lift", countHeader],
        itemRows(items, k, count),
      ),
      height: Math.max(140, 36 * shown.length + 60),
    }),
    readings.length > 0
      ? h("ul", { class: "readings" }, ...readings.map((i) => h("li", {}, `${segmentName} ${i.reading}`)))
      : null,
  );
}

function table(caption: string, headers: string[], rows: string[][]): HTMLTableElement {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h("tr", {}, ...headers.map((text, i) => h("th", { scope: "col", class: i > 0 ? "num" : null }, text))),
    ),
    h(
      "tbody",
      {},
      ...rows.map((cells) =>
        h(
          "tr",
          {},
          ...cells.map((cell, i) =>
            i === 0 ? h("th", { scope: "row" }, cell) : h("td", { class: "num" }, cell),
          ),
        ),
      ),
    ),
  );
}

/** Every table of the items with "other", "unassigned" and "missing" after the listed values. */
function withRest<T>(items: readonly T[], ...rest: (T | undefined)[]): T[] {
  return [...items, ...rest.filter((r): r is T => r !== undefined)];
}

/** The profile section of a segment page. */
export function profileSection(segmentName: string, profile: LiftProfile | null, k: number): HTMLElement {
  const section = h(
    "section",
    { "aria-labelledby": "lift-profile", class: "lift-profile" },
    h("h2", { id: "lift-profile" }, "Profile"),
  );
  if (profile === null) {
    section.append(
      h("p", {}, "This version was computed before segment profiles were kept; the next run computes them."),
    );
    return section;
  }
  section.append(
    h(
      "p",
      { class: "help" },
      `What the segment's members spend on and who they are, each against all customers. Lift is the segment's share divided by all customers' share; cells of ${hiddenText(k)} are hidden.`,
    ),
  );
  if (profile.spend.length === 0 && profile.attributes.length === 0) {
    section.append(h("p", {}, "The data carries no categories, channels or customer attributes to profile."));
  }
  for (const spend of profile.spend) {
    const dimension = DIMENSION_LABEL[spend.dimension];
    section.append(
      h("h3", {}, `Spend by ${dimension}`),
      spend.totalCents === null
        ? h("p", {}, `Fewer than ${k} members have spent: the table is withheld.`)
        : sharesFigure(
            `Share of net spend by ${dimension}`,
            segmentName,
            withRest(spend.items, spend.other, spend.unassigned),
            k,
            "Buyers",
            (i) => ("buyers" in i && i.buyers !== null ? fmt.int(i.buyers) : "—"),
          ),
    );
  }
  for (const attribute of profile.attributes) {
    section.append(h("h3", {}, attribute.name));
    if (attribute.kind === "categorical") {
      section.append(
        sharesFigure(
          `Members by ${attribute.name}`,
          segmentName,
          withRest(attribute.items, attribute.other, attribute.missing),
          k,
          "Members",
          (i) => ("count" in i ? fmt.int(i.count) : "—"),
        ),
      );
    } else if (attribute.kind === "date") {
      section.append(
        sharesFigure(
          `Members by ${attribute.name} (${attribute.bucket})`,
          segmentName,
          withRest(attribute.items, attribute.missing),
          k,
          "Members",
          (i) => ("count" in i ? fmt.int(i.count) : "—"),
        ),
      );
    } else {
      section.append(numericFigure(segmentName, attribute, k));
    }
  }
  return section;
}

type NumericProfile = Extract<LiftProfile["attributes"][number], { kind: "numeric" }>;

function numericFigure(segmentName: string, attribute: NumericProfile, k: number): HTMLElement {
  const { segment, base } = attribute;
  if (segment === null || base === null) {
    return h("p", {}, `Fewer than ${k} members hold a value of ${attribute.name}: its quartiles are hidden.`);
  }
  const labels = ["Lower quartile", "Median", "Upper quartile", "Mean"];
  const of = (q: NonNullable<typeof segment>) => [q.q1, q.median, q.q3, q.mean];
  const title = `${attribute.name}: quartiles against all customers`;
  return h(
    "div",
    { class: "profile-table" },
    chartFigure({
      title,
      summary: `Median ${fmt.num(segment.median)} in the segment against ${fmt.num(base.median)} for all customers.`,
      config: barConfig(labels, [
        { label: segmentName, data: of(segment) },
        { label: "All customers", data: of(base) },
      ]),
      table: table(
        title,
        ["Figure", segmentName, "All customers"],
        labels.map((label, i) => [label, fmt.num(of(segment)[i]), fmt.num(of(base)[i])]),
      ),
      height: 200,
    }),
    attribute.reading
      ? h("ul", { class: "readings" }, h("li", {}, `${segmentName}: ${attribute.reading}`))
      : null,
  );
}
