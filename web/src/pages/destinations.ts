/**
 * The destinations page: each destination of the dataset with its status, the segments it follows and where
 * it sends them; a webhook's last deliveries and attempts (an admin route: a token without the admin scope
 * is told so); creating a webhook, S3 member-list or ad-audience destination; rotating a webhook's secret,
 * re-enabling a disabled destination and deleting one. A webhook's signing secret is shown once, when it is
 * made, with a button that copies it.
 */
import type { RouteOutput } from "../../../shared/client";
import { ApiError, describeError } from "../api";
import type { PageContext } from "../context";
import { append, fmt, h, notice, replace, table, uid } from "../dom";

type Destination = RouteOutput<"listDestinations">["destinations"][number];
type Deliveries = RouteOutput<"listDestinationDeliveries">;

const KIND_LABEL: Record<Destination["kind"], string> = {
  webhook: "Webhook",
  s3: "S3 member lists",
  audience: "Ad audience",
};

function target(d: Destination): string {
  if (d.kind === "webhook") return d.webhook?.url ?? "";
  if (d.kind === "s3" && d.s3) return `s3://${d.s3.bucket}/${d.s3.prefix} (${d.s3.format.toUpperCase()})`;
  if (d.audience) {
    const platform = d.audience.platform === "google" ? "Google Customer Match" : "Meta custom audience";
    return `${platform} files in s3://${d.audience.bucket}/${d.audience.prefix}`;
  }
  return "";
}

/** The secret, once, with a button that copies it. */
function secretBox(secret: string, what: string): HTMLElement {
  const id = uid("secret");
  const status = h("span", { "aria-live": "polite", class: "help" });
  return h(
    "div",
    { class: "card secret", role: "region", "aria-label": "Secret shown once" },
    h("p", {}, h("strong", {}, what), " It is shown this once: store it where your receiver reads it."),
    h("label", { for: id }, "Signing secret"),
    h("input", { id, readonly: true, value: secret, size: 60, spellcheck: "false", class: "mono" }),
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(secret);
            replace(status, "Copied.");
          } catch {
            replace(status, "Copying is not allowed here: select the text and copy it.");
          }
        },
      },
      "Copy secret",
    ),
    " ",
    status,
  );
}

async function deliveriesSection(ctx: PageContext, d: Destination): Promise<HTMLElement> {
  const datasetId = ctx.datasetId as string;
  const title = uid("deliveries");
  const section = h("section", { "aria-labelledby": title, class: "deliveries" });
  section.append(h("h4", { id: title }, `Last deliveries of ${d.name}`));
  let answer: Deliveries;
  try {
    answer = await ctx.api.listDestinationDeliveries({
      params: { datasetId, destinationId: d.destinationId },
      query: { limit: 5 },
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      section.append(
        notice("info", "The delivery log needs the admin scope: sign in with an admin token to see it."),
      );
      return section;
    }
    section.append(notice("error", describeError(error)));
    return section;
  }
  append(
    section,
    answer.deliveries.length === 0
      ? h("p", {}, "No delivery yet: one is made when a run changes a followed segment.")
      : table(
          `Outbox of ${d.name}, newest first`,
          ["Webhook id", "Segment", "Run", "Entered", "Left", "Status", "Attempts", "Last status code"],
          answer.deliveries.map((x) => [
            x.webhookId,
            `${x.segmentId}${x.parts > 1 ? ` (${x.part}/${x.parts})` : ""}`,
            x.runId,
            fmt.int(x.entered),
            fmt.int(x.left),
            x.status,
            fmt.int(x.attempts),
            x.lastStatusCode === undefined ? "—" : String(x.lastStatusCode),
          ]),
          { numeric: [3, 4, 6] },
        ),
    answer.attempts.length === 0
      ? null
      : table(
          `Attempts of ${d.name}, newest first`,
          ["At", "Webhook id", "Attempt", "Status code", "Latency (ms)", "Outcome", "Error"],
          answer.attempts.map((a) => [
            fmt.date(a.at),
            a.webhookId,
            fmt.int(a.attempt),
            a.statusCode === undefined ? "—" : String(a.statusCode),
            fmt.int(a.latencyMs),
            a.outcome,
            a.error ?? "",
          ]),
          { numeric: [2, 4] },
        ),
  );
  return section;
}

export async function destinationsPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  const [list, segments] = await Promise.all([
    ctx.api.listDestinations({ params: { datasetId } }),
    ctx.api.listSegments({ params: { datasetId } }).catch(() => null),
  ]);
  const nameOf = new Map((segments?.segments ?? []).map((s) => [s.id, s.name]));
  const status = h("div", { "aria-live": "polite" });
  root.append(h("h1", {}, "Destinations"), status);

  /** Runs an action, then shows the page again with `after` (a notice or a secret) on top. */
  const act = async (what: () => Promise<Node | null>) => {
    replace(status, notice("info", "Working…"));
    try {
      const shown = await what();
      root.replaceChildren();
      await destinationsPage(ctx, root);
      const top = root.querySelector("[aria-live]");
      if (top && shown) replace(top as HTMLElement, shown);
    } catch (error) {
      replace(status, notice("error", describeError(error)));
    }
  };

  const listSection = h("section", { "aria-labelledby": "destinations-list" });
  listSection.append(h("h2", { id: "destinations-list" }, "This dataset's destinations"));
  if (list.destinations.length === 0) listSection.append(h("p", {}, "None yet."));
  for (const d of list.destinations) {
    const ref = { datasetId, destinationId: d.destinationId };
    const card = h(
      "article",
      { class: "card destination", "aria-label": d.name, "data-destination": d.destinationId },
      h("h3", {}, d.name),
      h(
        "dl",
        { class: "stats" },
        ...(
          [
            ["Kind", KIND_LABEL[d.kind]],
            ["Status", d.status === "enabled" ? "Enabled" : `Disabled: ${d.disabledReason ?? "no reason"}`],
            ["Sends to", target(d)],
            ["Follows", d.segments.map((id) => nameOf.get(id) ?? id).join(", ")],
            ["Opted-out customers", d.includeOptedOut ? "Included" : "Left out"],
            ["Created", fmt.date(d.createdAt)],
          ] as Array<[string, string]>
        ).map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))),
      ),
    );
    const actions = h("div", { class: "actions" });
    if (d.kind === "webhook") {
      actions.append(
        h(
          "button",
          {
            type: "button",
            "aria-label": `Rotate the secret of ${d.name}`,
            onclick: () =>
              act(async () => {
                const rotated = await ctx.api.rotateDestinationSecret({ params: ref });
                if (!rotated.secret) return notice("error", "The service answered without the new secret.");
                return secretBox(
                  rotated.secret,
                  `New secret of ${d.name}. The previous one keeps signing alongside it for 24 hours.`,
                );
              }),
          },
          "Rotate secret",
        ),
      );
    }
    if (d.status === "disabled") {
      actions.append(
        h(
          "button",
          {
            type: "button",
            "aria-label": `Re-enable ${d.name}`,
            onclick: () =>
              act(async () => {
                await ctx.api.enableDestination({ params: ref });
                return notice("success", `${d.name} is enabled again; its pending deliveries go out.`);
              }),
          },
          "Re-enable",
        ),
      );
    }
    actions.append(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          "aria-label": `Delete ${d.name}`,
          onclick: () => {
            if (!window.confirm(`Delete the destination “${d.name}”? Nothing more is sent to it.`)) return;
            void act(async () => {
              await ctx.api.deleteDestination({ params: ref });
              return notice("success", `${d.name} was deleted.`);
            });
          },
        },
        "Delete",
      ),
    );
    card.append(actions);
    if (d.kind === "webhook") card.append(await deliveriesSection(ctx, d));
    listSection.append(card);
  }
  root.append(listSection);
  root.append(createForm(ctx, segments?.segments ?? [], act));
}

function createForm(
  ctx: PageContext,
  segments: Array<{ id: string; name: string }>,
  act: (what: () => Promise<Node | null>) => Promise<void>,
): HTMLElement {
  const datasetId = ctx.datasetId as string;
  const name = h("input", { id: "dst-name", name: "name", required: true, maxlength: 100 });
  const kind = h(
    "select",
    { id: "dst-kind", name: "kind" },
    h("option", { value: "webhook" }, "Webhook"),
    h("option", { value: "s3" }, "S3 member lists"),
    h("option", { value: "audience" }, "Ad audience files"),
  );
  const url = h("input", { id: "dst-url", name: "url", type: "url", size: 50, placeholder: "https://…" });
  const bucket = h("input", { id: "dst-bucket", name: "bucket", size: 30 });
  const prefix = h("input", { id: "dst-prefix", name: "prefix", size: 30 });
  const owner = h("input", { id: "dst-owner", name: "owner", inputmode: "numeric", size: 14 });
  const format = h(
    "select",
    { id: "dst-format", name: "format" },
    h("option", { value: "csv" }, "CSV"),
    h("option", { value: "jsonl" }, "JSON lines"),
  );
  const platform = h(
    "select",
    { id: "dst-platform", name: "platform" },
    h("option", { value: "google" }, "Google Ads Customer Match"),
    h("option", { value: "meta" }, "Meta custom audience"),
  );
  const optedOut = h("input", { id: "dst-opted-out", name: "includeOptedOut", type: "checkbox" });
  const boxes = segments.map((s) => {
    const id = uid("follow");
    const box = h("input", { id, type: "checkbox", name: "segments", value: s.id });
    return { box, row: h("li", {}, box, " ", h("label", { for: id }, `${s.name} (${s.id})`)) };
  });
  const field = (label: string, control: HTMLElement, help?: string) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: control.id }, label),
      control,
      help ? h("p", { class: "help" }, help) : null,
    );
  const webhookFields = h(
    "fieldset",
    {},
    h("legend", {}, "Webhook"),
    field("URL", url, "HTTPS; the receiver verifies each request's signature (Standard Webhooks)."),
  );
  const bucketFields = h(
    "fieldset",
    {},
    h("legend", {}, "Bucket"),
    field("Bucket", bucket),
    field(
      "Key prefix",
      prefix,
      "Files go to <prefix><dataset>/<run>/<segment>.csv|jsonl with a manifest.json.",
    ),
    field(
      "Bucket owner account (optional)",
      owner,
      "12 digits: S3 refuses the write if another account owns the bucket.",
    ),
  );
  const formatField = field("File format", format);
  const platformField = field(
    "Platform",
    platform,
    "Emails and phone numbers are normalized and SHA-256 hashed as the platform documents; no raw address is written.",
  );
  const show = () => {
    webhookFields.hidden = kind.value !== "webhook";
    bucketFields.hidden = kind.value === "webhook";
    formatField.hidden = kind.value !== "s3";
    platformField.hidden = kind.value !== "audience";
  };
  kind.addEventListener("change", show);
  bucketFields.append(formatField, platformField);
  show();

  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card destination-form", "aria-labelledby": "create-destination" },
    h("h2", { id: "create-destination" }, "New destination"),
    field("Name", name),
    field("Kind", kind),
    webhookFields,
    bucketFields,
    h(
      "fieldset",
      {},
      h("legend", {}, "Segments to follow (1 to 50)"),
      boxes.length === 0
        ? h("p", {}, "The dataset has no segments yet.")
        : h("ul", { class: "follow-list" }, ...boxes.map((b) => b.row)),
    ),
    h(
      "div",
      { class: "field check" },
      optedOut,
      " ",
      h("label", { for: optedOut.id }, "Include customers who opted out"),
    ),
    h("button", { type: "submit" }, "Create destination"),
    status,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = boxes.filter((b) => b.box.checked).map((b) => b.box.value);
    if (chosen.length === 0) {
      replace(status, notice("error", "Choose at least one segment to follow."));
      return;
    }
    const place = {
      bucket: bucket.value.trim(),
      prefix: prefix.value.trim(),
      ...(owner.value.trim() ? { expectedBucketOwner: owner.value.trim() } : {}),
    };
    const body = {
      name: name.value.trim(),
      segments: chosen,
      includeOptedOut: optedOut.checked,
      ...(kind.value === "webhook"
        ? { kind: "webhook" as const, webhook: { url: url.value.trim() } }
        : kind.value === "s3"
          ? { kind: "s3" as const, s3: { ...place, format: format.value as "csv" | "jsonl" } }
          : {
              kind: "audience" as const,
              audience: { ...place, platform: platform.value as "google" | "meta" },
            }),
    };
    replace(status, notice("info", "Creating…"));
    ctx.api
      .createDestination({ params: { datasetId }, body })
      .then((created) =>
        act(async () =>
          created.secret
            ? secretBox(created.secret, `${created.name} was created.`)
            : notice("success", `${created.name} was created.`),
        ),
      )
      .catch((error) => replace(status, notice("error", describeError(error))));
  });
  return form;
}
