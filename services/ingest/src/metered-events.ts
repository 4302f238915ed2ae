import type { CommandBus } from '@nestjs/cqrs';

import { CommandServiceError, DecideCommand } from '@vevee/command';
import { DomainError, MergedPersonError, type TrackUsageCommand } from '@vevee/domain';

import type { IngestEvent } from './ingest-record';
import { ingestIdempotencyKey } from './sink-batch';

/** At most this many Track commands of one batch wait on the decider at once; it queues 2,000 per partition. */
const CONCURRENCY = 500;
/** How many merges a metered event follows from the person it names, as the RPC API does. */
const MAX_MERGE_HOPS = 3;
const RETRY_DELAYS_MS = [100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000, 2_000, 2_000];

/** The first failure of a metered event that a retry cannot fix: its field and reason. */
export interface MeteredRejection {
  offset: string;
  field: string;
  reason: string;
}

function trackCommand(event: IngestEvent): DecideCommand<TrackUsageCommand> {
  return new DecideCommand<TrackUsageCommand>({
    kind: 'track',
    workspaceId: event.workspaceId,
    personId: event.personId,
    eventType: event.type,
    meter: event.meter!,
    quantity: event.quantity,
    cost: event.cost,
    currency: event.currency,
    // The decider stamps its own decision time and event id, so the event's
    // own id and time travel in the metadata, and the time in occurredAt too.
    metadata: { ...event.properties, $eventId: event.eventId, $timestamp: new Date(event.at).toISOString() },
    occurredAt: event.at,
    idempotencyKey: ingestIdempotencyKey(event.eventId),
  });
}

function isRetriable(error: unknown): boolean {
  return error instanceof CommandServiceError && error.retriable;
}

/**
 * Sends one metered event to the person's decider as a Track command and
 * retries retriable failures (a partition that is recovering, moving or full)
 * with the same idempotency key. Returns a rejection for a command the
 * decider rejects; throws when retries run out.
 */
async function track(bus: CommandBus, event: IngestEvent, offset: string, heartbeat: () => Promise<void>): Promise<MeteredRejection | undefined> {
  let person = event;
  let merges = 0;
  let retries = 0;
  for (;;) {
    try {
      await bus.execute(trackCommand(person));
      return undefined;
    } catch (error) {
      // An aliased id's usage counts for the person it was merged into, as the RPC API's track does.
      if (error instanceof MergedPersonError && merges < MAX_MERGE_HOPS) {
        merges += 1;
        person = { ...person, personId: error.targetPersonId };
        continue;
      }
      if (error instanceof DomainError && error.field === 'idempotencyKey') {
        return { offset, field: 'eventId', reason: `eventId "${event.eventId}" was counted before with another type or quantity: send a new eventId for a new event` };
      }
      if (error instanceof DomainError) {
        return { offset, field: error.field ?? 'value', reason: error.message };
      }
      // The decider's one non-retriable service error is a workspace without a plan.
      if (error instanceof CommandServiceError && !error.retriable) {
        return { offset, field: /workspace/i.test(error.message) ? 'workspaceId' : 'value', reason: error.message };
      }
      const delay = RETRY_DELAYS_MS[retries];
      if (!isRetriable(error) || delay === undefined) throw error;
      retries += 1;
      await heartbeat();
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * Sends the metered events of a batch to the decider and returns those it
 * rejected (an unknown meter, an eventId reused with other values). The
 * decider deduplicates by idempotency key `ingest:<eventId>`, so sending a
 * redelivered event again changes no counter.
 */
export async function trackMeteredEvents(
  bus: CommandBus,
  metered: { event: IngestEvent; offset: string }[],
  heartbeat: () => Promise<void>,
): Promise<MeteredRejection[]> {
  const rejections: MeteredRejection[] = [];
  for (let start = 0; start < metered.length; start += CONCURRENCY) {
    const chunk = metered.slice(start, start + CONCURRENCY);
    const results = await Promise.all(chunk.map(({ event, offset }) => track(bus, event, offset, heartbeat)));
    for (const result of results) {
      if (result !== undefined) rejections.push(result);
    }
  }
  return rejections;
}
