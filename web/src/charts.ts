/**
 * Charts: Chart.js (canvas, tree-shaken to bars and lines) for sizes, shares and trends, and plain SVG for
 * the RFM grid, where a heat map is a 5 × 5 set of rectangles. A canvas says nothing to a screen reader, so
 * every chart is a <figure> with a text alternative and its numbers in a table right under it.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { RFM_SEGMENTS, SEGMENT_GRID } from "../../shared/engine/rfm";
import { fmt, h, table } from "./dom";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  Legend,
);
Chart.defaults.color = "#1f2933";
Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

/** Colour-blind-safe palette (Okabe–Ito), each dark enough against white for a 3:1 graphics contrast. */
export const PALETTE = [
  "#0072b2",
  "#d55e00",
  "#009e73",
  "#cc79a7",
  "#e69f00",
  "#56b4e9",
  "#6b6b6b",
  "#8c564b",
];

const charts = new Set<Chart>();
/** Charts hold a resize observer each; a page change destroys the old page's charts. */
export function destroyCharts(): void {
  for (const chart of charts) chart.destroy();
  charts.clear();
}

interface ChartFigure {
  title: string;
  /** One sentence telling what the chart shows, for those who cannot see it. */
  summary: string;
  config: ChartConfiguration;
  table: HTMLTableElement;
  height?: number;
}

export function chartFigure(spec: ChartFigure): HTMLElement {
  const canvas = h("canvas", { role: "img", "aria-label": `${spec.title}. ${spec.summary}` });
  const frame = h("div", { class: "chart-frame", style: `height:${spec.height ?? 260}px` }, canvas);
  const figure = h(
    "figure",
    { class: "chart" },
    h("figcaption", {}, spec.title),
    frame,
    h("details", {}, h("summary", {}, "Numbers as a table"), spec.table),
  );
  // Chart.js measures its parent, so the chart is made once the figure is in the document.
  queueMicrotask(() => {
    if (!canvas.isConnected) return;
    charts.add(new Chart(canvas, spec.config));
  });
  return figure;
}

export function barConfig(
  labels: string[],
  datasets: Array<{ label: string; data: number[]; percent?: boolean }>,
  options: {
    horizontal?: boolean;
    stacked?: boolean;
    percentAxis?: boolean;
    /** Axis titles: `index` names the categories, `value` the measured amount. */
    titles?: { index?: string; value?: string };
    /** Bars that touch, as the bins of a histogram do. */
    histogram?: boolean;
  } = {},
): ChartConfiguration {
  const title = (text: string | undefined) => (text ? { display: true, text } : { display: false });
  return {
    type: "bar",
    data: {
      labels,
      datasets: datasets.map((d, i) => ({
        label: d.label,
        data: d.data,
        backgroundColor: PALETTE[i % PALETTE.length],
        borderRadius: options.histogram ? 0 : 3,
        ...(options.histogram ? { categoryPercentage: 1, barPercentage: 0.96 } : {}),
      })),
    },
    options: {
      indexAxis: options.horizontal ? "y" : "x",
      plugins: {
        legend: { display: datasets.length > 1, position: "bottom" },
        tooltip: {
          callbacks: {
            label: (item) => {
              const value = Number(item.raw);
              const shown = datasets[item.datasetIndex]?.percent ? fmt.pct(value) : fmt.num(value);
              return `${item.dataset.label}: ${shown}`;
            },
          },
        },
      },
      scales: {
        [options.horizontal ? "x" : "y"]: {
          beginAtZero: true,
          title: title(options.titles?.value),
          ticks: options.percentAxis ? { callback: (v) => fmt.pct(Number(v)) } : {},
        },
        [options.horizontal ? "y" : "x"]: { title: title(options.titles?.index), ticks: { autoSkip: false } },
      },
    },
  };
}

export function lineConfig(labels: string[], label: string, data: number[]): ChartConfiguration {
  return {
    type: "line",
    data: {
      labels,
      datasets: [
        { label, data, borderColor: PALETTE[0], backgroundColor: PALETTE[0], pointRadius: 4, tension: 0 },
      ],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
  };
}

interface RfmSegmentFigures {
  id: string;
  size: number;
  share: number;
}

/**
 * The RFM grid: recency score (rows, 5 at the top) against the frequency-and-monetary score (columns), each
 * named segment outlined and labelled once. With the result's grid counts, every cell is shaded by and shows
 * its own number of customers, so the spread inside a segment shows too; without them (a version computed
 * before they were kept), each cell takes the shade of its segment's share and each segment shows its share.
 */
export function rfmHeatMap(segments: RfmSegmentFigures[], grid: number[][] | null = null): HTMLElement {
  const byId = new Map(segments.map((s) => [s.id, s]));
  const countAt = (r: number, fm: number) => grid?.[r - 1]?.[fm - 1] ?? 0;
  const maxCount = Math.max(1, ...(grid ?? []).flat());
  const maxShare = Math.max(0.0001, ...segments.map((s) => s.share));
  const cell = 80;
  const left = 46;
  const top = 8;
  const width = left + cell * 5 + 4;
  const height = top + cell * 5 + 46;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute(
    "aria-label",
    grid
      ? "RFM grid: recency score from 5 (top) to 1 against the frequency-and-monetary score from 1 to 5; each cell shows and is shaded by its number of customers, and each named segment is an outlined region. The table below lists every cell."
      : "RFM grid: recency score from 5 (top) to 1 against the frequency-and-monetary score from 1 to 5; each named segment is an outlined region, shaded by its share of customers. The table below lists each segment.",
  );
  const add = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  };
  const codeAt = (r: number, fm: number) => SEGMENT_GRID[r - 1]?.[fm - 1];
  const figuresOf = (code: number) => {
    const seg = RFM_SEGMENTS[code];
    return seg ? byId.get(seg.id) : undefined;
  };
  // A square root keeps small cells visible next to a crowded one; an empty cell keeps a faint tint.
  const intensityAt = (r: number, fm: number) => {
    if (grid) {
      const n = countAt(r, fm);
      return n > 0 ? 0.1 + 0.9 * Math.sqrt(n / maxCount) : 0.04;
    }
    const figures = figuresOf(codeAt(r, fm) ?? -1);
    return figures ? 0.1 + 0.9 * Math.sqrt(figures.share / maxShare) : 0.04;
  };
  const DARK_TEXT = "#102a43";
  const onCell = (r: number, fm: number) => (intensityAt(r, fm) > 0.45 ? "#ffffff" : DARK_TEXT);
  const x = (fm: number) => left + (fm - 1) * cell;
  const y = (r: number) => top + (5 - r) * cell;
  const cellsOf = new Map<number, Array<[number, number]>>();
  for (let r = 5; r >= 1; r--)
    for (let fm = 1; fm <= 5; fm++) {
      const code = codeAt(r, fm) ?? 0;
      cellsOf.set(code, [...(cellsOf.get(code) ?? []), [r, fm]]);
      add("rect", {
        x: x(fm),
        y: y(r),
        width: cell,
        height: cell,
        fill: "#0b5394",
        "fill-opacity": intensityAt(r, fm).toFixed(3),
      });
      if (grid)
        add(
          "text",
          {
            x: x(fm) + cell / 2,
            y: y(r) + cell - 18,
            "text-anchor": "middle",
            class: "grid-count",
            fill: onCell(r, fm),
            "data-r": r,
            "data-fm": fm,
          },
          fmt.int(countAt(r, fm)),
        );
    }
  // Outline each named segment: an edge is drawn where the cells on either side belong to different segments.
  const edge = (x1: number, y1: number, x2: number, y2: number) =>
    add("line", { x1, y1, x2, y2, stroke: "#ffffff", "stroke-width": 3, "stroke-linecap": "square" });
  for (let r = 1; r <= 5; r++)
    for (let fm = 1; fm <= 5; fm++) {
      if (fm < 5 && codeAt(r, fm) !== codeAt(r, fm + 1)) edge(x(fm + 1), y(r), x(fm + 1), y(r) + cell);
      if (r > 1 && codeAt(r, fm) !== codeAt(r - 1, fm)) edge(x(fm), y(r) + cell, x(fm) + cell, y(r) + cell);
    }
  // Names sit in the top half of a cell, counts in the bottom half. A name goes in the top row of a
  // rectangular region, centred across it, else in the region's cell nearest the region's middle.
  for (const [code, cells] of cellsOf) {
    const seg = RFM_SEGMENTS[code];
    if (!seg) continue;
    const rs = cells.map(([r]) => r);
    const fms = cells.map(([, fm]) => fm);
    const rectangular =
      cells.length === (Math.max(...rs) - Math.min(...rs) + 1) * (Math.max(...fms) - Math.min(...fms) + 1);
    const mr = rs.reduce((a, b) => a + b, 0) / cells.length;
    const mf = fms.reduce((a, b) => a + b, 0) / cells.length;
    const [lr, lf] = rectangular
      ? [Math.max(...rs), mf]
      : (cells
          .slice()
          .sort((a, b) => Math.hypot(a[0] - mr, a[1] - mf) - Math.hypot(b[0] - mr, b[1] - mf))[0] ?? [
          mr,
          mf,
        ]);
    // The cells under the name: one, or the two a name centred on their border spans.
    const under = cells.filter(([r, fm]) => r === lr && Math.abs(fm - lf) < 1);
    const fills = new Set(under.map(([r, fm]) => onCell(r, fm)));
    const [fill = DARK_TEXT] = fills;
    // Over a light and a dark cell at once, dark text with a white halo reads on both.
    const halo: Record<string, string | number> =
      fills.size > 1 ? { stroke: "#ffffff", "stroke-width": 3, "paint-order": "stroke" } : {};
    const cx = x(lf) + cell / 2;
    const words = seg.name.split(" ");
    const lines =
      words.length > 1 && seg.name.length > 9
        ? [
            words.slice(0, Math.ceil(words.length / 2)).join(" "),
            words.slice(Math.ceil(words.length / 2)).join(" "),
          ]
        : [seg.name];
    for (const [i, line] of lines.entries())
      add(
        "text",
        { x: cx, y: y(lr) + 20 + i * 14, "text-anchor": "middle", class: "grid-name", fill, ...halo },
        line,
      );
    if (!grid)
      add(
        "text",
        { x: cx, y: y(lr) + cell - 18, "text-anchor": "middle", class: "grid-share", fill, ...halo },
        fmt.pct(figuresOf(code)?.share ?? 0),
      );
  }
  for (let r = 5; r >= 1; r--)
    add("text", { x: left - 8, y: y(r) + cell / 2 + 4, "text-anchor": "end", class: "axis" }, String(r));
  for (let fm = 1; fm <= 5; fm++)
    add(
      "text",
      { x: x(fm) + cell / 2, y: top + cell * 5 + 16, "text-anchor": "middle", class: "axis" },
      String(fm),
    );
  add(
    "text",
    {
      x: 12,
      y: top + cell * 2.5,
      "text-anchor": "middle",
      class: "axis-title",
      transform: `rotate(-90 12 ${top + cell * 2.5})`,
    },
    "Recency score",
  );
  add(
    "text",
    { x: left + cell * 2.5, y: top + cell * 5 + 38, "text-anchor": "middle", class: "axis-title" },
    "Frequency & monetary score",
  );
  const numbers = grid
    ? table(
        "RFM grid: customers per cell",
        ["Recency score", "Frequency & monetary score", "Segment", "Customers"],
        [5, 4, 3, 2, 1].flatMap((r) =>
          [1, 2, 3, 4, 5].map((fm) => [
            String(r),
            String(fm),
            RFM_SEGMENTS[codeAt(r, fm) ?? -1]?.name ?? "—",
            fmt.int(countAt(r, fm)),
          ]),
        ),
        { numeric: [1, 3] },
      )
    : table(
        "RFM segments",
        ["Segment", "Customers", "Share"],
        RFM_SEGMENTS.map((seg) => {
          const figures = byId.get(seg.id);
          return [seg.name, fmt.int(figures?.size ?? 0), fmt.pct(figures?.share ?? 0)];
        }),
        { numeric: [1, 2] },
      );
  return h(
    "figure",
    { class: "chart heatmap" },
    h("figcaption", {}, "RFM grid: recency × frequency and spend"),
    h("div", { class: "heatmap-frame" }, svg),
    h(
      "p",
      { class: "help" },
      grid
        ? `Each cell shows its customers, darker the more (at most ${fmt.int(maxCount)} in one cell); white lines outline the named segments.`
        : "Each named segment is shaded by its share of customers.",
    ),
    h("details", {}, h("summary", {}, "Numbers as a table"), numbers),
  );
}
