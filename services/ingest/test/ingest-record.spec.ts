import { describe, expect, it } from 'vitest';

import { parseIngestRecord, validateEvent, type IngestEvent, type TimeWindow } from '../src/ingest-record';

const NOW = Date.UTC(2026, 4, 20, 12);
const WINDOW: TimeWindow = { referenceMs: NOW, maxAgeMs: 7 * 24 * 3600_000, maxFutureMs: 600_000 };

function record(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { eventId: 'e1', workspaceId: 'ws', personId: 'alice', type: 'page_view', timestamp: NOW - 1_000, ...overrides };
}

function acceptedEvent(fields: Record<string, unknown>): IngestEvent {
  const parsed = validateEvent(fields, WINDOW);
  if (!parsed.ok) throw new Error(`expected ${JSON.stringify(fields)} to be accepted, got: ${parsed.rejection.reason}`);
  return parsed.event;
}

function rejectedRecord(key: string | null, value: string | null): { field: string; reason: string } {
  const parsed = parseIngestRecord(key, value, WINDOW);
  if (parsed.ok) throw new Error(`expected the record ${String(value)} with key ${String(key)} to be rejected`);
  return parsed.rejection;
}

function rejectionOf(fields: Record<string, unknown>): { field: string; reason: string } {
  const parsed = validateEvent(fields, WINDOW);
  if (parsed.ok) throw new Error(`expected a rejection of ${JSON.stringify(fields)}`);
  return parsed.rejection;
}

describe('validateEvent', () => {
  it('accepts › a plain event with epoch milliseconds', () => {
    const parsed = validateEvent(record({ properties: { path: '/' } }), WINDOW);
    expect(parsed).toEqual({
      ok: true,
      event: { eventId: 'e1', workspaceId: 'ws', personId: 'alice', type: 'page_view', at: NOW - 1_000, meter: undefined, quantity: 0, cost: 0, currency: '', properties: { path: '/' } },
    });
  });

  it('accepts › an ISO-8601 timestamp with an offset', () => {
    const event = acceptedEvent(record({ timestamp: '2026-05-20T13:30:00.250+02:00' }));
    expect(event.at).toBe(Date.UTC(2026, 4, 20, 11, 30, 0, 250));
  });

  it('accepts › a metered event with cost', () => {
    const event = acceptedEvent(record({ type: 'chat.completion', meter: 'tokens', quantity: 1200, cost: 0.004, currency: 'USD' }));
    expect(event).toMatchObject({ meter: 'tokens', quantity: 1200, cost: 0.004, currency: 'USD' });
  });

  it('accepts › $identify with set, setOnce and anonymousId moved into properties', () => {
    const event = acceptedEvent(record({ type: '$identify', set: { plan: 'pro' }, setOnce: { firstSeen: '2026-05-01' }, anonymousId: 'anon-1' }));
    expect(event.properties).toEqual({ set: { plan: 'pro' }, setOnce: { firstSeen: '2026-05-01' }, anonymousId: 'anon-1' });
  });

  it.each([
    [{ eventId: undefined }, 'eventId', 'required'],
    [{ eventId: 'x'.repeat(129) }, 'eventId', 'at most 128'],
    [{ eventId: 42 }, 'eventId', 'must be a string'],
    [{ personId: 'a\nb' }, 'personId', 'control characters'],
    [{ type: '$merge' }, 'type', 'reserved'],
    [{ type: '9lives' }, 'type', 'start with a letter'],
    [{ timestamp: '2026-05-20 12:00:00' }, 'timestamp', 'ISO-8601 with a zone'],
    [{ timestamp: '2026-05-20T12:00:00' }, 'timestamp', 'ISO-8601 with a zone'],
    [{ timestamp: 1.5 }, 'timestamp', 'whole number'],
    [{ timestamp: undefined }, 'timestamp', 'required'],
    [{ timestamp: NOW - 8 * 24 * 3600_000 }, 'timestamp', 'INGEST_MAX_AGE_MS'],
    [{ timestamp: NOW + 11 * 60_000 }, 'timestamp', 'INGEST_MAX_FUTURE_MS'],
    [{ meter: 'tokens' }, 'quantity', 'required with meter'],
    [{ quantity: 5 }, 'quantity', 'needs a meter'],
    [{ meter: 'to kens', quantity: 1 }, 'meter', 'start with a letter'],
    [{ meter: 'tokens', quantity: -1 }, 'quantity', '0 or greater'],
    [{ cost: Number.NaN }, 'cost', 'finite number'],
    [{ currency: 'usd' }, 'currency', 'ISO 4217'],
    [{ properties: [1, 2] }, 'properties', 'JSON object'],
    [{ set: 'pro' }, 'set', 'JSON object'],
    [{ anonymousId: 7 }, 'anonymousId', 'string'],
    [{ set: { a: 1 }, properties: { set: { a: 2 } } }, 'set', 'one place'],
    [{ userId: 'u1' }, 'userId', 'unknown field'],
    [{ type: '$alias' }, 'anonymousId', 'required for $alias'],
    [{ type: '$alias', anonymousId: 'alice' }, 'anonymousId', 'must differ from personId'],
  ])('rejects › %j at %s', (overrides, field, text) => {
    const rejection = rejectionOf(record(overrides));
    expect(rejection.field).toBe(field);
    expect(rejection.reason).toContain(text);
  });
});

describe('parseIngestRecord', () => {
  const value = JSON.stringify(record());

  it('accepts › a key that matches the value', () => {
    expect(parseIngestRecord('ws:alice', value, WINDOW).ok).toBe(true);
  });

  it('rejects › a key of another person', () => {
    const rejection = rejectedRecord('ws:bob', value);
    expect(rejection.field).toBe('key');
    expect(rejection.reason).toContain('"ws:alice"');
  });

  it('rejects › a missing key', () => {
    expect(rejectedRecord(null, value).reason).toContain('record key is missing');
  });

  it('rejects › a value that is not JSON', () => {
    const rejection = rejectedRecord('ws:alice', '{"eventId": ');
    expect(rejection.field).toBe('value');
    expect(rejection.reason).toContain('not valid JSON');
  });

  it('rejects › a JSON array value', () => {
    expect(rejectedRecord('ws:alice', '[]').reason).toContain('must be a JSON object');
  });

  it('rejects › an empty value', () => {
    expect(rejectedRecord('ws:alice', null).reason).toContain('no value');
  });
});
