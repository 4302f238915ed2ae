import type pg from 'pg';

import type { SubscriptionStatus, SubscriptionTerms } from '@vevee/contracts';

import { eventKey, personKey, type AccountPlan, type CreditEntryRow, type CreditGrantRow, type SubscriptionHistoryRow, type SubscriptionRow } from './account-projection';

interface SubscriptionRecord {
  workspace_id: string;
  person_id: string;
  plan_id: string | null;
  status: SubscriptionStatus | null;
  starts_at: Date | null;
  scheduled_plan_id: string | null;
  scheduled_status: SubscriptionStatus | null;
  scheduled_starts_at: Date | null;
  scheduled_effective_at: Date | null;
  occurred_at: Date;
  changed_at: Date;
}

function terms(planId: string | null, status: SubscriptionStatus | null, startsAt: Date | null): SubscriptionTerms | null {
  if (planId === null || status === null || startsAt === null) return null;
  return { planId, status, startsAt: startsAt.getTime() };
}

function iso(epochMs: number | null | undefined): string | null {
  return epochMs === null || epochMs === undefined ? null : new Date(epochMs).toISOString();
}

/** Reads the subscriptions of the given [workspaceId, personId] pairs, keyed by personKey. */
export async function loadSubscriptions(client: pg.ClientBase, persons: Array<[string, string]>): Promise<Map<string, SubscriptionRow>> {
  const rows = new Map<string, SubscriptionRow>();
  if (persons.length === 0) return rows;
  const result = await client.query<SubscriptionRecord>(
    `SELECT s.* FROM subscriptions s
     JOIN unnest($1::text[], $2::text[]) AS wanted(workspace_id, person_id)
       ON s.workspace_id = wanted.workspace_id AND s.person_id = wanted.person_id`,
    [persons.map(([workspaceId]) => workspaceId), persons.map(([, personId]) => personId)],
  );
  for (const record of result.rows) {
    const scheduledTerms = terms(record.scheduled_plan_id, record.scheduled_status, record.scheduled_starts_at);
    rows.set(personKey(record.workspace_id, record.person_id), {
      workspaceId: record.workspace_id,
      personId: record.person_id,
      current: terms(record.plan_id, record.status, record.starts_at),
      scheduled:
        scheduledTerms === null || record.scheduled_effective_at === null ? null : { terms: scheduledTerms, effectiveAt: record.scheduled_effective_at.getTime() },
      occurredAt: record.occurred_at.getTime(),
      changedAt: record.changed_at.getTime(),
    });
  }
  return rows;
}

/** Returns the eventKey of each [workspaceId, eventId] pair that subscription_history contains already. */
export async function recordedSubscriptionEvents(client: pg.ClientBase, events: Array<[string, string]>): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const result = await client.query<{ workspace_id: string; event_id: string }>(
    `SELECT h.workspace_id, h.event_id FROM subscription_history h
     JOIN unnest($1::text[], $2::text[]) AS wanted(workspace_id, event_id)
       ON h.workspace_id = wanted.workspace_id AND h.event_id = wanted.event_id`,
    [events.map(([workspaceId]) => workspaceId), events.map(([, eventId]) => eventId)],
  );
  return new Set(result.rows.map((row) => eventKey(row.workspace_id, row.event_id)));
}

async function writeSubscriptions(client: pg.ClientBase, rows: SubscriptionRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO subscriptions (workspace_id, person_id, plan_id, status, starts_at, scheduled_plan_id, scheduled_status,
                                scheduled_starts_at, scheduled_effective_at, occurred_at, changed_at, updated_at)
     SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                                 $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
     ON CONFLICT (workspace_id, person_id) DO UPDATE
     SET plan_id = EXCLUDED.plan_id, status = EXCLUDED.status, starts_at = EXCLUDED.starts_at,
         scheduled_plan_id = EXCLUDED.scheduled_plan_id, scheduled_status = EXCLUDED.scheduled_status,
         scheduled_starts_at = EXCLUDED.scheduled_starts_at, scheduled_effective_at = EXCLUDED.scheduled_effective_at,
         occurred_at = EXCLUDED.occurred_at, changed_at = EXCLUDED.changed_at, updated_at = EXCLUDED.updated_at`,
    [
      rows.map((row) => row.workspaceId),
      rows.map((row) => row.personId),
      rows.map((row) => row.current?.planId ?? null),
      rows.map((row) => row.current?.status ?? null),
      rows.map((row) => iso(row.current?.startsAt)),
      rows.map((row) => row.scheduled?.terms.planId ?? null),
      rows.map((row) => row.scheduled?.terms.status ?? null),
      rows.map((row) => iso(row.scheduled?.terms.startsAt)),
      rows.map((row) => iso(row.scheduled?.effectiveAt)),
      rows.map((row) => iso(row.occurredAt)),
      rows.map((row) => iso(row.changedAt)),
    ],
  );
}

async function writeSubscriptionHistory(client: pg.ClientBase, rows: SubscriptionHistoryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO subscription_history (workspace_id, event_id, person_id, at, occurred_at, effective_at, from_plan_id, from_status,
                                       from_starts_at, to_plan_id, to_status, to_starts_at, reason, source, external_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[], $7::text[],
                          $8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::text[], $15::text[])
     ON CONFLICT (workspace_id, event_id) DO NOTHING`,
    [
      rows.map((row) => row.workspaceId),
      rows.map((row) => row.eventId),
      rows.map((row) => row.personId),
      rows.map((row) => iso(row.at)),
      rows.map((row) => iso(row.occurredAt)),
      rows.map((row) => iso(row.effectiveAt)),
      rows.map((row) => row.from?.planId ?? null),
      rows.map((row) => row.from?.status ?? null),
      rows.map((row) => iso(row.from?.startsAt)),
      rows.map((row) => row.to.planId),
      rows.map((row) => row.to.status),
      rows.map((row) => iso(row.to.startsAt)),
      rows.map((row) => row.reason),
      rows.map((row) => row.source),
      rows.map((row) => row.externalId),
    ],
  );
}

/** Inserts the grants that are new with remaining 0, and leaves a grant that exists already as it is. */
async function writeCreditGrants(client: pg.ClientBase, rows: CreditGrantRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO credit_grants (workspace_id, person_id, grant_id, meter, amount, priority, effective_at, expires_at, recurrence,
                                origin, parent_grant_id, reason, granted_at, event_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::integer[], $7::timestamptz[],
                          $8::timestamptz[], $9::jsonb[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[])
     ON CONFLICT (workspace_id, person_id, grant_id) DO NOTHING`,
    [
      rows.map((row) => row.workspaceId),
      rows.map((row) => row.personId),
      rows.map((row) => row.grantId),
      rows.map((row) => row.meter),
      rows.map((row) => row.amount),
      rows.map((row) => row.priority),
      rows.map((row) => iso(row.effectiveAt)),
      rows.map((row) => iso(row.expiresAt)),
      rows.map((row) => (row.recurrence === null ? null : JSON.stringify(row.recurrence))),
      rows.map((row) => row.origin),
      rows.map((row) => row.parentGrantId),
      rows.map((row) => row.reason),
      rows.map((row) => iso(row.grantedAt)),
      rows.map((row) => row.eventId),
    ],
  );
}

/**
 * Inserts the entries and adds the amounts of the ones that are new to their
 * grants' remaining, in one statement: an entry that is there already (a
 * redelivered event) changes no balance.
 */
async function writeCreditEntries(client: pg.ClientBase, rows: CreditEntryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `WITH inserted AS (
       INSERT INTO credit_entries (workspace_id, person_id, event_id, grant_id, meter, kind, amount, reservation_id, usage_event_id,
                                   at, effective_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[], $8::text[],
                            $9::text[], $10::timestamptz[], $11::timestamptz[])
       ON CONFLICT (workspace_id, event_id, grant_id) DO NOTHING
       RETURNING workspace_id, person_id, grant_id, amount
     ), deltas AS (
       SELECT workspace_id, person_id, grant_id, sum(amount) AS delta FROM inserted GROUP BY workspace_id, person_id, grant_id
     )
     UPDATE credit_grants g SET remaining = g.remaining + d.delta
     FROM deltas d
     WHERE g.workspace_id = d.workspace_id AND g.person_id = d.person_id AND g.grant_id = d.grant_id`,
    [
      rows.map((row) => row.workspaceId),
      rows.map((row) => row.personId),
      rows.map((row) => row.eventId),
      rows.map((row) => row.grantId),
      rows.map((row) => row.meter),
      rows.map((row) => row.kind),
      rows.map((row) => row.amount),
      rows.map((row) => row.reservationId),
      rows.map((row) => row.usageEventId),
      rows.map((row) => iso(row.at)),
      rows.map((row) => iso(row.effectiveAt)),
    ],
  );
}

/** Writes a planned batch of subscription and credit rows. Grants go first, so entries of the same batch find them. */
export async function writeAccountPlan(client: pg.ClientBase, plan: AccountPlan): Promise<void> {
  await writeSubscriptions(client, plan.subscriptions);
  await writeSubscriptionHistory(client, plan.history);
  await writeCreditGrants(client, plan.grants);
  await writeCreditEntries(client, plan.entries);
}
