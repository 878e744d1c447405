/**
 * The reads of the lookup function (one customer) on aws-lite
 * (@aws-lite/client) rather than the AWS SDK: the SDK's DynamoDB client with its credential chain,
 * middleware stack and endpoint rules is about 320 KB minified before any code of ours and dominates a cold
 * start, while these two calls need only a signed JSON request, retries of throttled and failed requests
 * with jittered backoff, and DynamoDB's attribute-value conversion, which aws-lite does. They address the
 * same items as DynamoDatasetStore's `getCustomer` and `getDataset` (keys from ./keys) and
 * apply the same versioned-read rule, so both give the same answer for the same table.
 *
 * The two calls are an aws-lite plugin of this module's own (`lookupPlugin`) rather than the
 * @aws-lite/dynamodb plugin, whose TransactGetItems fails on a missing item (every lookup of an unknown
 * customer).
 *
 * Items are handed back as plain values; the caller parses the fields it uses with its schemas.
 */
import { CUSTOMER_SK, customerPk, datasetPk, META_SK } from "./keys";

export type Item = Record<string, unknown>;

/** The reads, with the parts of DynamoDB's answers this store uses, items as plain values. */
export interface LookupDynamoDB {
  GetItem(input: {
    TableName: string;
    Key: Item;
    ConsistentRead?: boolean;
    ProjectionExpression?: string;
    ExpressionAttributeNames?: Record<string, string>;
  }): Promise<{ Item?: Item }>;
  TransactGetItems(input: {
    TransactItems: Array<{
      Get: {
        TableName: string;
        Key: Item;
        ProjectionExpression?: string;
        ExpressionAttributeNames?: Record<string, string>;
      };
    }>;
  }): Promise<{ Responses: Array<{ Item?: Item }> }>;
}

declare module "@aws-lite/client" {
  interface AwsLiteClient {
    /** Added by `lookupPlugin`. */
    SegmentationLookup: LookupDynamoDB;
  }
}

type Convert = (value: unknown, options?: object) => unknown;
interface PluginUtils {
  awsjsonMarshall: Convert;
  awsjsonUnmarshall: Convert;
}

/** DynamoDB's JSON protocol: the operation goes in a header, the input in the body. */
const target = (operation: string) => ({ "X-Amz-Target": `DynamoDB_20120810.${operation}` });

/** Converts the listed fields of an object (from plain values, or back), leaving the others as they are. */
function convert(convertValue: Convert, input: object | undefined, fields: readonly string[]): Item {
  const out: Item = { ...input };
  for (const field of fields) if (out[field] !== undefined) out[field] = convertValue(out[field]);
  return out;
}

/** The aws-lite plugin that adds `SegmentationLookup` (the two reads above) to a client. */
export const lookupPlugin = {
  name: "segmentation-lookup",
  service: "dynamodb",
  property: "SegmentationLookup",
  methods: {
    GetItem: {
      request: async (input: Item, { awsjsonMarshall }: PluginUtils) => ({
        headers: target("GetItem"),
        payload: convert(awsjsonMarshall, input, ["Key"]),
      }),
      response: async ({ payload }: { payload?: Item }, { awsjsonUnmarshall }: PluginUtils) =>
        convert(awsjsonUnmarshall, payload, ["Item"]),
    },
    TransactGetItems: {
      request: async (input: { TransactItems: Array<{ Get: Item }> }, { awsjsonMarshall }: PluginUtils) => ({
        headers: target("TransactGetItems"),
        payload: {
          ...input,
          TransactItems: input.TransactItems.map((i) => ({ Get: convert(awsjsonMarshall, i.Get, ["Key"]) })),
        },
      }),
      response: async (
        { payload }: { payload?: { Responses?: Item[] } },
        { awsjsonUnmarshall }: PluginUtils,
      ) => ({
        // An item that does not exist comes back as an empty entry, in its place.
        Responses: (payload?.Responses ?? []).map((r) => convert(awsjsonUnmarshall, r, ["Item"])),
      }),
    },
  },
};

/**
 * How much of a dataset's META item a read brings back. "whole": the item. "ref": `pk` (so a dataset without
 * a run is still told from no dataset) and the committed version's `version` and `runId`, which name it:
 * `current` is written whole, once, by the commit of the run it names (DynamoDatasetStore.commit), so a
 * reader that already holds that run's version needs nothing more of an item that grows with the segments
 * (their summaries and profiles make it tens of kilobytes, which DynamoDB sends and the client converts on
 * every read).
 */
export type MetaPart = "whole" | "ref";

/** The projection of a META read by reference (MetaPart "ref"). */
export const META_REF_PROJECTION = {
  ProjectionExpression: "pk, #current.#version, #current.runId",
  ExpressionAttributeNames: { "#current": "current", "#version": "version" },
};

/**
 * The projection of a customer item a lookup reads: its versions' views, not the membership history the item
 * also carries (`hist`, up to 64 entries), which only the history route reads.
 */
export const CUSTOMER_VIEW_PROJECTION = {
  ProjectionExpression: "v, #view, prev",
  ExpressionAttributeNames: { "#view": "view" },
};

export class DynamoLookupStore {
  constructor(
    private readonly dynamo: LookupDynamoDB,
    private readonly table: string,
  ) {}

  /**
   * The dataset's META item, read strongly consistent, or undefined. With `part` "ref", only what names its
   * committed version (`pk`, `current.version`, `current.runId`): see MetaPart.
   */
  async getDatasetItem(
    tenantId: string,
    datasetId: string,
    part: MetaPart = "whole",
  ): Promise<Item | undefined> {
    const out = await this.dynamo.GetItem({
      TableName: this.table,
      Key: { pk: datasetPk(tenantId, datasetId), sk: META_SK },
      ConsistentRead: true,
      ...(part === "ref" ? META_REF_PROJECTION : {}),
    });
    return out.Item;
  }

  /**
   * The dataset's META item and the customer's view as of the committed version, read in one transaction so
   * the two belong to the same committed run: the stored `view` when it was written at or before that
   * version, else `prev`, the value a run that has not committed yet kept for readers. With `part` "ref",
   * META comes back as its committed version's reference only (MetaPart).
   */
  async getCustomerItems(
    tenantId: string,
    datasetId: string,
    customerId: string,
    part: MetaPart = "whole",
  ): Promise<{ meta: Item | undefined; view: unknown }> {
    const out = await this.dynamo.TransactGetItems({
      TransactItems: [
        {
          Get: {
            TableName: this.table,
            Key: { pk: datasetPk(tenantId, datasetId), sk: META_SK },
            ...(part === "ref" ? META_REF_PROJECTION : {}),
          },
        },
        {
          Get: {
            TableName: this.table,
            Key: { pk: customerPk(tenantId, datasetId, customerId), sk: CUSTOMER_SK },
            ...CUSTOMER_VIEW_PROJECTION,
          },
        },
      ],
    });
    const meta = out.Responses?.[0]?.Item;
    const customer = out.Responses?.[1]?.Item;
    const current = meta?.current as { version?: unknown } | undefined;
    const committed = typeof current?.version === "number" ? current.version : undefined;
    if (committed === undefined || !customer) return { meta, view: undefined };
    const written = typeof customer.v === "number" ? customer.v : 0;
    return { meta, view: written <= committed ? customer.view : customer.prev };
  }
}
