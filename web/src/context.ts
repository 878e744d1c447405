import type { Client, RouteOutput } from "../../shared/client";

export type Segment = RouteOutput<"listSegments">["segments"][number];
export type SegmentList = RouteOutput<"listSegments">;
export type Dataset = RouteOutput<"getDataset">;
export type Run = RouteOutput<"listRuns">["runs"][number];
/** One run as its own route answers it: with a download link to its rejected-row report, if it has one. */
export type RunDetail = RouteOutput<"getRun">;

/** What every page gets: the client, the dataset it shows and how to move to another page. */
export interface PageContext {
  api: Client;
  datasetId: string | null;
  datasets: string[];
  /** The rest of the address after the page name, decoded. */
  args: string[];
  navigate: (hash: string) => void;
  /** Called with the page's root once the page is left, so timers can stop. */
  onLeave: (cleanup: () => void) => void;
}

export function link(datasetId: string, ...parts: string[]): string {
  // Segment ids keep their colon ("rfm:champions"), as in the API's own paths.
  return `#/${[datasetId, ...parts].map((p) => encodeURIComponent(p).replace(/%3A/gi, ":")).join("/")}`;
}

export const FAMILY_LABEL: Record<Segment["family"], string> = {
  rfm: "RFM segment",
  cluster: "Behavioural cluster",
  lifecycle: "Lifecycle stage",
  rule: "Rule segment",
  list: "List",
  attr: "Attribute",
  lookalike: "Lookalike",
};
