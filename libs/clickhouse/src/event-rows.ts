import type { ClickHouseClient } from '@clickhouse/client';

import type { LedgerEvent } from '@vevee/contracts';

import { quoteDatabase } from './identifiers';

/** The partition and offset on the ledger topic that a ledger event was read from. */
export interface LedgerPosition {
  partition: number;
  /** The Kafka offset as kafkajs returns it, a decimal string. */
  offset: string;
}

/** One row of the `events` table, with the column names as keys. */
export interface EventRow {
  event_id: string;
  workspace_id: string;
  person_id: string;
  /** The ledger event type, or `Ingested` for an event the ingest sink inserts directly. */
  type: LedgerEvent['type'] | 'Ingested';
  /** The app's event type for UsageTracked and Ingested, and empty for quota events. */
  event_type: string;
  meter: string;
  quantity: number;
  /** Non-zero only for QuotaCommitted and UsageTracked. */
  cost: number;
  currency: string;
  reservation_id: string;
  idempotency_key: string;
  /** Epoch milliseconds. A JSON integer for a DateTime64(3) column is read as milliseconds. */
  at: number;
  plan_version: number;
  /** JSON text of the event's metadata, or `{}` for events that carry none. */
  metadata: string;
  ledger_partition: number;
  /** A decimal string, so offsets above 2^53 stay exact. */
  ledger_offset: string;
  /** The whole event as JSON text. */
  payload: string;
}

type TypeColumns = Pick<EventRow, 'event_type' | 'meter' | 'quantity' | 'cost' | 'currency' | 'reservation_id' | 'idempotency_key' | 'metadata'>;

const NO_METADATA = '{}';

/** Returns the columns that differ by event type. */
function typeColumns(event: LedgerEvent): TypeColumns {
  const none = { event_type: '', cost: 0, currency: '', reservation_id: '', idempotency_key: '', metadata: NO_METADATA };
  switch (event.type) {
    case 'QuotaReserved':
    case 'QuotaReleased':
      return { ...none, meter: event.meter, quantity: event.quantity, reservation_id: event.reservationId, idempotency_key: event.idempotencyKey };
    case 'QuotaDenied':
      return { ...none, meter: event.meter, quantity: event.quantity, idempotency_key: event.idempotencyKey };
    case 'QuotaExpired':
      return { ...none, meter: event.meter, quantity: event.quantity, reservation_id: event.reservationId };
    case 'QuotaCommitted':
      return {
        ...none,
        meter: event.meter,
        quantity: event.quantity,
        cost: event.cost,
        currency: event.currency,
        reservation_id: event.reservationId,
        idempotency_key: event.idempotencyKey,
        metadata: JSON.stringify(event.metadata),
      };
    case 'UsageTracked':
      return {
        ...none,
        event_type: event.eventType,
        meter: event.meter,
        quantity: event.quantity,
        cost: event.cost,
        currency: event.currency,
        idempotency_key: event.idempotencyKey,
        metadata: JSON.stringify(event.metadata),
      };
    case 'SubscriptionChanged':
      return {
        ...none,
        meter: '',
        quantity: 0,
        metadata: JSON.stringify({ from: event.from, to: event.to, externalId: event.externalId, source: event.source, effectiveAt: event.effectiveAt }),
      };
    case 'CreditsGranted':
      return {
        ...none,
        meter: event.meter,
        quantity: event.amount,
        idempotency_key: event.idempotencyKey,
        metadata: JSON.stringify({ grantId: event.grantId, origin: event.origin, expiresAt: event.expiresAt }),
      };
    case 'CreditsBurned':
      return { ...none, meter: event.meter, quantity: event.amount, reservation_id: event.reservationId, metadata: JSON.stringify({ grantId: event.grantId }) };
    case 'CreditsExpired':
      return { ...none, meter: event.meter, quantity: event.amount, metadata: JSON.stringify({ grantId: event.grantId }) };
    case 'UsageTransferredOut':
    case 'UsageTransferredIn': {
      const meters = [...new Set(event.transfers.map((transfer) => transfer.meter))];
      // A merge without a reservation is the identity link of an alias: analytics reads it as `$alias`.
      const isAlias = event.type === 'UsageTransferredOut' && event.reservationId === undefined;
      return {
        ...none,
        event_type: isAlias ? '$alias' : '',
        meter: meters.length === 1 ? meters[0]! : '',
        quantity: 0,
        reservation_id: event.type === 'UsageTransferredOut' ? (event.reservationId ?? '') : '',
        metadata: JSON.stringify(
          event.type === 'UsageTransferredOut'
            ? { transferId: event.transferId, anonymousId: event.personId, knownId: event.targetPersonId, transfers: event.transfers }
            : { transferId: event.transferId, sourcePersonId: event.sourcePersonId, transfers: event.transfers },
        ),
      };
    }
    default: {
      const unknown: never = event;
      throw new Error(`no events table mapping for ledger event type ${String((unknown as { type: unknown }).type)}`);
    }
  }
}

/**
 * Maps a decoded ledger event to its row in the `events` table. `payload` is
 * the record's JSON text when the caller has it, which saves encoding the
 * event again.
 */
export function toEventRow(event: LedgerEvent, position: LedgerPosition, payload: string = JSON.stringify(event)): EventRow {
  return {
    event_id: event.eventId,
    workspace_id: event.workspaceId,
    // An alias row belongs to the known person, as an `$alias` event that names the anonymous id.
    person_id: event.type === 'UsageTransferredOut' && event.reservationId === undefined ? event.targetPersonId : event.personId,
    type: event.type,
    // An ingested event keeps the time its sender gave it, so funnels see the steps in their order.
    at: event.type === 'UsageTracked' && event.occurredAt !== undefined ? event.occurredAt : event.at,
    plan_version: event.planVersion,
    ...typeColumns(event),
    ledger_partition: position.partition,
    ledger_offset: position.offset,
    payload,
  };
}

/** The columns an insert writes, in the order of each JSONCompactEachRow array. */
const INSERT_COLUMNS = [
  'event_id',
  'workspace_id',
  'person_id',
  'type',
  'event_type',
  'meter',
  'quantity',
  'cost',
  'currency',
  'reservation_id',
  'idempotency_key',
  'at',
  'plan_version',
  'metadata',
  'ledger_partition',
  'ledger_offset',
  'payload',
] as const satisfies readonly (keyof EventRow)[];

/**
 * Inserts rows into the `events` table in one insert statement. Inserting an
 * event again is harmless: the table collapses rows with the same event id
 * (see the schema), and queries read it with FINAL.
 *
 * JSONCompactEachRow sends each row as an array without column names. In the
 * projector's throughput measurement on chdb 26.7 its inserts took about 20%
 * less time than JSONEachRow's (docs/clickhouse.md has the numbers).
 */
export async function insertEventRows(client: ClickHouseClient, database: string, rows: readonly EventRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.insert({
    table: `${quoteDatabase(database)}.events`,
    columns: [...INSERT_COLUMNS],
    values: rows.map((row) => INSERT_COLUMNS.map((column) => row[column])),
    format: 'JSONCompactEachRow',
  });
}
