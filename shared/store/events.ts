/** The EventBridge adapter of the event publisher: entries go to the service's bus in batches of ten. */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from "@aws-sdk/client-eventbridge";
import { RetryableError } from "../errors";
import { EVENT_SOURCE } from "../events";
import type { EventPublisher, ServiceEvent } from "../pipeline/ports";

/** PutEvents takes at most ten entries a call. */
const ENTRIES_PER_CALL = 10;

export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: ServiceEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += ENTRIES_PER_CALL) {
      let entries: PutEventsRequestEntry[] = events.slice(i, i + ENTRIES_PER_CALL).map((e) => ({
        EventBusName: this.busName,
        Source: EVENT_SOURCE,
        DetailType: e.detailType,
        Detail: JSON.stringify(e.detail),
      }));
      // Entries can fail one by one (throttling, an internal error); those are sent again, a few times.
      for (let attempt = 0; entries.length > 0; attempt++) {
        if (attempt === 4) {
          throw new RetryableError("EVENTS_NOT_PUT", `${entries.length} events could not be put on the bus`);
        }
        const out = await this.client.send(new PutEventsCommand({ Entries: entries }));
        if (!out.FailedEntryCount) break;
        entries = entries.filter((_, k) => out.Entries?.[k]?.ErrorCode !== undefined);
      }
    }
  }
}

/** For deployments without a bus: events are dropped. */
export const noEvents: EventPublisher = { publish: async () => undefined };
