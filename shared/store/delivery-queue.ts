/**
 * The SQS adapter of the delivery wake-up: one message per destination with deliveries to send, whose body
 * names the destination only (`{tenantId, datasetId, destinationId}`), never a payload.
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DestinationRef } from "../destinations/model";
import type { DeliveryQueue } from "../destinations/ports";

export class SqsDeliveryQueue implements DeliveryQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async notify(ref: DestinationRef): Promise<void> {
    const body = { tenantId: ref.tenantId, datasetId: ref.datasetId, destinationId: ref.destinationId };
    await this.client.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(body) }),
    );
  }
}
