import type pg from 'pg';

import { reservationKey, type CounterChange, type ReservationRow, type ReservationStatus } from './projection';

/**
 * Locks the offset row of one partition for this transaction and returns the
 * next offset to apply, creating the row at 0 when the partition is new. The
 * row lock makes a second consumer of the same partition (a rebalance in
 * flight) wait until this batch commits, and then see its offset.
 */
export async function lockNextOffset(client: pg.ClientBase, projector: string, topic: string, partition: number): Promise<bigint> {
  await client.query(
    `INSERT INTO projector_offsets (projector, topic, partition, next_offset) VALUES ($1, $2, $3, 0)
     ON CONFLICT (projector, topic, partition) DO NOTHING`,
    [projector, topic, partition],
  );
  const result = await client.query<{ next_offset: string }>(
    'SELECT next_offset FROM projector_offsets WHERE projector = $1 AND topic = $2 AND partition = $3 FOR UPDATE',
    [projector, topic, partition],
  );
  const row = result.rows[0];
  if (row === undefined) {
    throw new Error(`projector_offsets has no row for ${projector} ${topic}[${partition}] right after inserting it`);
  }
  return BigInt(row.next_offset);
}

export async function saveNextOffset(client: pg.ClientBase, projector: string, topic: string, partition: number, nextOffset: bigint): Promise<void> {
  await client.query(
    'UPDATE projector_offsets SET next_offset = $4, updated_at = now() WHERE projector = $1 AND topic = $2 AND partition = $3',
    [projector, topic, partition, nextOffset.toString()],
  );
}

interface ReservationRecord {
  workspace_id: string;
  reservation_id: string;
  person_id: string;
  meter: string;
  quantity: string;
  status: ReservationStatus;
  reserved_at: Date;
  expires_at: Date;
  closed_at: Date | null;
  committed_quantity: string | null;
  overage: string | null;
  cost: string | null;
  currency: string | null;
  credit_quantity: string;
}

/** Reads the reservations with the given [workspaceId, reservationId] keys, keyed by reservationKey. */
export async function loadReservations(client: pg.ClientBase, keys: Array<[string, string]>): Promise<Map<string, ReservationRow>> {
  const rows = new Map<string, ReservationRow>();
  if (keys.length === 0) return rows;
  const result = await client.query<ReservationRecord>(
    `SELECT r.* FROM reservations r
     JOIN unnest($1::text[], $2::text[]) AS wanted(workspace_id, reservation_id)
       ON r.workspace_id = wanted.workspace_id AND r.reservation_id = wanted.reservation_id`,
    [keys.map(([workspaceId]) => workspaceId), keys.map(([, reservationId]) => reservationId)],
  );
  for (const record of result.rows) {
    rows.set(reservationKey(record.workspace_id, record.reservation_id), {
      workspaceId: record.workspace_id,
      reservationId: record.reservation_id,
      personId: record.person_id,
      meter: record.meter,
      quantity: record.quantity,
      status: record.status,
      reservedAt: record.reserved_at.toISOString(),
      expiresAt: record.expires_at.toISOString(),
      closedAt: record.closed_at?.toISOString() ?? null,
      committedQuantity: record.committed_quantity,
      overage: record.overage,
      cost: record.cost,
      currency: record.currency,
      creditQuantity: record.credit_quantity,
    });
  }
  return rows;
}

/**
 * Adds the changes to usage_counters in one statement. GROUP BY sums the
 * changes to the same row first, because ON CONFLICT DO UPDATE may touch a
 * row only once per statement, and NUMERIC sums decimal strings exactly.
 */
export async function writeCounterChanges(client: pg.ClientBase, changes: CounterChange[]): Promise<void> {
  if (changes.length === 0) return;
  await client.query(
    `INSERT INTO usage_counters AS c (workspace_id, person_id, meter, period, window_start, window_end, used, reserved, updated_at)
     SELECT workspace_id, person_id, meter, period, window_start, window_end, sum(used), sum(reserved), now()
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::numeric[], $8::numeric[])
       AS change(workspace_id, person_id, meter, period, window_start, window_end, used, reserved)
     GROUP BY workspace_id, person_id, meter, period, window_start, window_end
     ON CONFLICT (workspace_id, person_id, meter, period, window_start, window_end) DO UPDATE
     SET used = c.used + EXCLUDED.used, reserved = c.reserved + EXCLUDED.reserved, updated_at = EXCLUDED.updated_at`,
    [
      changes.map((change) => change.workspaceId),
      changes.map((change) => change.personId),
      changes.map((change) => change.meter),
      changes.map((change) => change.period),
      changes.map((change) => change.windowStart),
      changes.map((change) => change.windowEnd),
      changes.map((change) => change.used),
      changes.map((change) => change.reserved),
    ],
  );
}

/** Writes the final state of each touched reservation in one statement; each key appears once. */
export async function writeReservations(client: pg.ClientBase, rows: ReservationRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO reservations (workspace_id, reservation_id, person_id, meter, quantity, status, reserved_at, expires_at,
                               closed_at, committed_quantity, overage, cost, currency, credit_quantity)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[], $7::timestamptz[],
                          $8::timestamptz[], $9::timestamptz[], $10::numeric[], $11::numeric[], $12::numeric[], $13::text[], $14::numeric[])
     ON CONFLICT (workspace_id, reservation_id) DO UPDATE
     SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at, committed_quantity = EXCLUDED.committed_quantity,
         overage = EXCLUDED.overage, cost = EXCLUDED.cost, currency = EXCLUDED.currency`,
    [
      rows.map((row) => row.workspaceId),
      rows.map((row) => row.reservationId),
      rows.map((row) => row.personId),
      rows.map((row) => row.meter),
      rows.map((row) => row.quantity),
      rows.map((row) => row.status),
      rows.map((row) => row.reservedAt),
      rows.map((row) => row.expiresAt),
      rows.map((row) => row.closedAt),
      rows.map((row) => row.committedQuantity),
      rows.map((row) => row.overage),
      rows.map((row) => row.cost),
      rows.map((row) => row.currency),
      rows.map((row) => row.creditQuantity),
    ],
  );
}
