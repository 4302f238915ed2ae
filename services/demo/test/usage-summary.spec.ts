import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { parseUsageSummaryReply, usageSummaryQuery, waitForUsageSummary, type UsageSummary } from '../src/usage-summary';

const FROM = new Date('2026-12-04T10:00:00.000Z');
const TO = new Date('2026-12-04T10:01:00.000Z');

interface ReceivedRequest {
  method: string | undefined;
  authorization: string | undefined;
  body: { query?: string };
}

let server: Server | undefined;

afterEach(async () => {
  const running = server;
  server = undefined;
  if (running !== undefined) await new Promise<void>((resolve) => running.close(() => resolve()));
});

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts a GraphQL stand-in on loopback that replies with `replies` in turn, repeating the last one. */
async function startGraphql(replies: readonly { status?: number; body: unknown }[], received: ReceivedRequest[]): Promise<string> {
  server = createServer((request, response) => {
    void readBody(request).then((text) => {
      received.push({ method: request.method, authorization: request.headers.authorization, body: JSON.parse(text) as { query?: string } });
      const reply = replies[Math.min(received.length - 1, replies.length - 1)] ?? { body: {} };
      response.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}/graphql`;
}

function summaryReply(events: number): { body: { data: { usageSummary: UsageSummary } } } {
  return { body: { data: { usageSummary: { events, cost: 1.5, activePersons: 3, byType: [{ type: 'QuotaCommitted', count: events, cost: 1.5 }] } } } };
}

describe('usageSummaryQuery', () => {
  it('puts the range into the query', () => {
    expect(usageSummaryQuery(FROM, TO)).toBe(
      '{ usageSummary(from: "2026-12-04T10:00:00.000Z", to: "2026-12-04T10:01:00.000Z") { events cost activePersons byType { type count cost } } }',
    );
  });
});

describe('parseUsageSummaryReply', () => {
  it('rejects GraphQL errors and missing fields', () => {
    expect(() => parseUsageSummaryReply(JSON.stringify({ errors: [{ message: 'Cannot query field "usageSummary"' }] }))).toThrow(
      'usageSummary query returned errors: Cannot query field "usageSummary"',
    );
    expect(() => parseUsageSummaryReply(JSON.stringify({ data: {} }))).toThrow('usageSummary reply has no data.usageSummary');
    expect(() => parseUsageSummaryReply(JSON.stringify({ data: { usageSummary: { events: '3', cost: 1, activePersons: 1, byType: [] } } }))).toThrow(
      'usageSummary reply is malformed',
    );
    expect(() => parseUsageSummaryReply(JSON.stringify({ data: { usageSummary: { events: 3, cost: 1, activePersons: 1, byType: [{ type: 'x' }] } } }))).toThrow(
      'usageSummary reply has a malformed byType row',
    );
  });
});

describe('waitForUsageSummary', () => {
  it('polls until the count reaches the expected events', async () => {
    const received: ReceivedRequest[] = [];
    const graphqlUrl = await startGraphql([summaryReply(10), summaryReply(40), summaryReply(100)], received);

    const result = await waitForUsageSummary({ graphqlUrl, apiKey: 'key-1', from: FROM, to: TO, expectedEvents: 100, deadlineMs: 10_000, pollMs: 10 });

    expect(result.complete).toBe(true);
    expect(result.summary.events).toBe(100);
    expect(received).toHaveLength(3);
    expect(received[0]).toEqual({ method: 'POST', authorization: 'Bearer key-1', body: { query: usageSummaryQuery(FROM, TO) } });
  });

  it('returns the last summary when the deadline passes', async () => {
    const received: ReceivedRequest[] = [];
    const graphqlUrl = await startGraphql([summaryReply(10)], received);

    const result = await waitForUsageSummary({ graphqlUrl, apiKey: 'key-1', from: FROM, to: TO, expectedEvents: 100, deadlineMs: 200, pollMs: 20 });

    expect(result.complete).toBe(false);
    expect(result.summary.events).toBe(10);
    expect(result.waitedMs).toBeGreaterThanOrEqual(200);
    expect(received.length).toBeGreaterThan(1);
  });

  it('names the URL when the connection fails', async () => {
    const graphqlUrl = await startGraphql([summaryReply(1)], []);
    const running = server;
    server = undefined;
    await new Promise<void>((resolve) => running?.close(() => resolve()));

    await expect(waitForUsageSummary({ graphqlUrl, apiKey: 'key-1', from: FROM, to: TO, expectedEvents: 1, deadlineMs: 1_000 })).rejects.toThrow(
      `usageSummary query to ${graphqlUrl} failed: connect ECONNREFUSED`,
    );
  });

  it('throws an HTTP error with its status', async () => {
    const graphqlUrl = await startGraphql([{ status: 401, body: { errors: [{ message: 'invalid API key' }] } }], []);

    await expect(waitForUsageSummary({ graphqlUrl, apiKey: 'wrong', from: FROM, to: TO, expectedEvents: 1, deadlineMs: 1_000 })).rejects.toThrow(
      /failed with HTTP 401: .*invalid API key/,
    );
  });
});
