import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { personIdOfReservation } from '@vevee/contracts';
import { VeveeError, type ReserveResult, type Vevee } from '@vevee/sdk';
import { waitFor } from '@vevee/testing';

import { foldWholeLedger, readLedger } from './ledger-fold';
import { LEDGER_PARTITIONS, OWNED_PARTITIONS, TEST_METER, createReplicaCluster, partitionOf, personsIn, waitForSplit, type ReplicaCluster } from './replica-harness';
import type { ReplicaProcess } from './replica-process';

const FORWARDED = 'vevee_decider_forwarded_total';
const FENCED_MESSAGE = 'partition writer was fenced by a newer owner; releasing the partition';

describe('command replicas › two replicas share the ledger', () => {
  const DAY_LIMIT = 100;
  let cluster: ReplicaCluster;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  let split: { a: number[]; b: number[] };

  beforeAll(async () => {
    cluster = await createReplicaCluster({ dayLimit: DAY_LIMIT });
    [a, b] = await Promise.all([cluster.start('replica-a'), cluster.start('replica-b')]);
    split = await waitForSplit(a, b);
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('splits partitions and persons across both', async () => {
    expect(split.a.length).toBeGreaterThan(0);
    expect(split.b.length).toBeGreaterThan(0);
    expect(split.a.length + split.b.length).toBe(LEDGER_PARTITIONS);
    expect(split.a.filter((partition) => split.b.includes(partition))).toEqual([]);

    const persons = Array.from({ length: 40 }, (_, index) => `spread-${index}`);
    const onA = persons.filter((personId) => split.a.includes(partitionOf(personId)));
    const onB = persons.filter((personId) => split.b.includes(partitionOf(personId)));
    expect(onA.length).toBeGreaterThan(0);
    expect(onB.length).toBeGreaterThan(0);
  });

  it('forwards requests to the owner', async () => {
    const sdkA = cluster.sdk(a);
    const persons = personsIn(split.b, 5, 'forwarded');
    const forwardedBefore = await a.metric(FORWARDED, { outcome: 'ok' });

    for (const personId of persons) {
      const reservation = await sdkA.reserve({ personId, meter: TEST_METER, quantity: 7 });
      expect(reservation).toMatchObject({ allowed: true, remaining: DAY_LIMIT - 7, limit: DAY_LIMIT, period: 'day' });
      const committed = await sdkA.commit({ reservationId: reservation.reservationId, quantity: 5 });
      expect(committed).toMatchObject({ reservationId: reservation.reservationId, quantity: 5, overage: 0 });
      const over = await sdkA.reserve({ personId, meter: TEST_METER, quantity: DAY_LIMIT - 4 });
      expect(over).toMatchObject({ allowed: false, remaining: DAY_LIMIT - 5, reason: 'limit_exceeded' });
    }

    const forwardedAfter = await a.metric(FORWARDED, { outcome: 'ok' });
    expect(forwardedAfter - forwardedBefore).toBeGreaterThanOrEqual(persons.length * 3);
    expect(await b.metric(FORWARDED)).toBe(0);
  });

  it('alias › merges across replicas', async () => {
    const sdkA = cluster.sdk(a);
    const [anonymous] = personsIn(split.a, 1, 'visitor');
    const [known] = personsIn(split.b, 1, 'member');
    await sdkA.track({ personId: anonymous!, eventType: 'chat', meter: TEST_METER, quantity: 30 });
    await sdkA.track({ personId: known!, eventType: 'chat', meter: TEST_METER, quantity: 20 });

    // Step one runs on replica a, the anonymous person's owner; step two is forwarded to b.
    const alias = await sdkA.alias({ anonymousId: anonymous!, knownId: known! });
    expect(alias.transfers.map((transfer) => [transfer.period, transfer.used])).toEqual([['day', 30]]);

    // A request for the anonymous id runs on b for the known person: 100 - 50 leaves 50.
    const hold = await sdkA.reserve({ personId: anonymous!, meter: TEST_METER, quantity: 50 });
    expect(hold).toMatchObject({ allowed: true, remaining: 0 });
    expect(personIdOfReservation(hold.reservationId)).toBe(known);
    expect(await cluster.sdk(b).check({ personId: known!, meter: TEST_METER, quantity: 1 })).toMatchObject({ allowed: false, remaining: 0 });
    await sdkA.release({ reservationId: hold.reservationId });
  });

  it('allows exactly the limit across replicas', async () => {
    const personId = 'burst-person';
    const sdkA = cluster.sdk(a);
    const sdkB = cluster.sdk(b);
    const nonOwner = split.a.includes(partitionOf(personId)) ? b : a;
    const forwardedBefore = await nonOwner.metric(FORWARDED, { outcome: 'ok' });
    const replies = await Promise.all(
      Array.from({ length: 1_000 }, (_, index) => (index % 2 === 0 ? sdkA : sdkB).reserve({ personId, meter: TEST_METER, quantity: 1 })),
    );

    const allowed = replies.filter((reply) => reply.allowed);
    const denied = replies.filter((reply) => !reply.allowed);
    expect(allowed).toHaveLength(DAY_LIMIT);
    expect(denied).toHaveLength(1_000 - DAY_LIMIT);
    expect(new Set(allowed.map((reply) => reply.reservationId)).size).toBe(DAY_LIMIT);
    expect(denied.every((reply) => reply.reason === 'limit_exceeded' && reply.remaining === 0)).toBe(true);
    expect((await nonOwner.metric(FORWARDED, { outcome: 'ok' })) - forwardedBefore).toBeGreaterThanOrEqual(500);

    const fold = await foldWholeLedger(cluster.kafka, cluster.topic);
    const person = fold.persons.get(personId);
    expect(person?.counts.QuotaReserved).toBe(DAY_LIMIT);
    expect(person?.counts.QuotaDenied).toBe(1_000 - DAY_LIMIT);
    expect(fold.repeatedKeys).toEqual([]);
  });
});

/** What one reserve sent straight at the paused replica returned. */
type StaleReply = { kind: 'reply'; reply: ReserveResult } | { kind: 'error'; code: string };

async function reserveOutcome(sdk: Vevee, personId: string, idempotencyKey: string): Promise<StaleReply> {
  try {
    return { kind: 'reply', reply: await sdk.reserve({ personId, meter: TEST_METER, quantity: 1, idempotencyKey }) };
  } catch (error) {
    return { kind: 'error', code: VeveeError.from(error).code };
  }
}

describe('command replicas › a paused owner is fenced', () => {
  const DAY_LIMIT = 20;
  let cluster: ReplicaCluster | undefined;

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  it('accepts no decision after resume', async () => {
    cluster = await createReplicaCluster({ dayLimit: DAY_LIMIT });
    const [a, b] = await Promise.all([cluster.start('replica-a'), cluster.start('replica-b')]);
    const split = await waitForSplit(a, b);
    const [personId] = personsIn(split.b, 1, 'paused');
    const sdkA = cluster.sdk(a, { maxRetries: 0 });
    const sdkB = cluster.sdk(b, { maxRetries: 0 });

    // B decides for the person once, so it has state for the person and a writer that has committed.
    const first = await cluster.sdk(b).reserve({ personId: personId!, meter: TEST_METER, quantity: 1 });
    expect(first.allowed).toBe(true);

    b.signal('SIGSTOP');
    await waitFor('replica A to own all 12 partitions', async () => (await a.metric(OWNED_PARTITIONS)) === LEDGER_PARTITIONS || undefined, { timeoutMs: 30_000 });
    const probe = await waitFor(
      'replica A to serve the paused replica\'s person',
      () => sdkA.reserve({ personId: personId!, meter: TEST_METER, quantity: 1, idempotencyKey: 'probe' }).catch(() => undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(probe).toMatchObject({ allowed: true, remaining: DAY_LIMIT - 2 });
    const rest = await sdkA.reserve({ personId: personId!, meter: TEST_METER, quantity: DAY_LIMIT - 2, idempotencyKey: 'rest' });
    expect(rest).toMatchObject({ allowed: true, remaining: 0 });

    b.signal('SIGCONT');
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, index) => reserveOutcome(sdkB, personId!, `stale-${index}`)));

    // Each reply is an error (the fenced append) or a denial (after B caught up with the ledger).
    expect(tally(outcomes)).not.toHaveProperty('allowed');
    const fold = await foldWholeLedger(cluster.kafka, cluster.topic);
    expect(fold.persons.get(personId!)?.reservedQuantity).toBe(DAY_LIMIT);
    expect(fold.repeatedKeys).toEqual([]);

    const partition = partitionOf(personId!);
    const lost = await waitFor(
      `replica B to log that it lost partition ${partition}`,
      () => b.lines.find((line) => line.partition === partition && (line.msg === FENCED_MESSAGE || line.msg === 'partition released')),
      { timeoutMs: 30_000 },
    );
    expect(lost.msg).toMatch(/fenced|released/);
    console.log(`replies of the resumed replica ${JSON.stringify(tally(outcomes))}, its log line "${lost.msg}"`);
  });
});

describe('command replicas › credit settlement after a takeover', () => {
  let cluster: ReplicaCluster | undefined;

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  it('reads evicted persons back after a takeover', async () => {
    cluster = await createReplicaCluster({ dayLimit: 100 });
    const [a, b] = await Promise.all([cluster.start('replica-a'), cluster.start('replica-b')]);
    const split = await waitForSplit(a, b);
    const persons = personsIn(split.b, 5, 'idle');
    const sdkB = cluster.sdk(b);
    const firstReplies = new Map<string, ReserveResult>();
    for (const personId of persons) {
      const hold = await sdkB.reserve({ personId, meter: TEST_METER, quantity: 30, idempotencyKey: `${personId}:first` });
      await sdkB.commit({ reservationId: hold.reservationId, quantity: 20 });
      firstReplies.set(personId, hold);
    }
    const evicted = (replica: ReplicaProcess) => replica.metric('vevee_decider_persons', { state: 'snapshot' });
    await waitFor('replica B to evict the idle persons', async () => (await evicted(b)) >= persons.length);

    await b.kill();
    await waitFor('replica A to own all 12 partitions', async () => (await a.metric(OWNED_PARTITIONS)) === LEDGER_PARTITIONS || undefined, { timeoutMs: 30_000 });
    await waitFor('replica A to evict the restored persons', async () => (await evicted(a)) >= persons.length);

    const sdkA = cluster.sdk(a);
    for (const personId of persons) {
      expect(await sdkA.reserve({ personId, meter: TEST_METER, quantity: 30, idempotencyKey: `${personId}:first` })).toEqual(firstReplies.get(personId));
      expect(await sdkA.check({ personId, meter: TEST_METER, quantity: 80 })).toMatchObject({ allowed: true, remaining: 0 });
      expect(await sdkA.check({ personId, meter: TEST_METER, quantity: 81 })).toMatchObject({ allowed: false, remaining: 80 });
    }
    expect(await a.metric('vevee_decider_person_reads_total')).toBeGreaterThanOrEqual(persons.length);
  });

  it('writes off credit of a restored person', async () => {
    cluster = await createReplicaCluster({ dayLimit: 100 });
    const [a, b] = await Promise.all([cluster.start('replica-a'), cluster.start('replica-b')]);
    const split = await waitForSplit(a, b);
    const [personId] = personsIn(split.b, 1, 'credited');

    // B grants credit that expires after B is gone, and no call for the person follows.
    const expiresAt = new Date(Date.now() + 4_000);
    const grant = await cluster.sdk(b).grantCredits({ personId: personId!, meter: TEST_METER, amount: 25, idempotencyKey: 'trial', expiresAt });
    await b.kill();

    await waitFor('replica A to own all 12 partitions', async () => (await a.metric(OWNED_PARTITIONS)) === LEDGER_PARTITIONS || undefined, { timeoutMs: 30_000 });
    const writeOff = await waitFor(
      'replica A to append the write-off',
      async () =>
        (await readLedger(cluster!.kafka, cluster!.topic))
          .map((record) => record.event)
          .find((event) => event.type === 'CreditsExpired' && event.grantId === grant.grantId),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(writeOff).toMatchObject({ personId, amount: 25, expiredAt: expiresAt.getTime() });
  });
});

function tally(outcomes: StaleReply[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) {
    let key = outcome.kind === 'error' ? outcome.code : 'denied';
    if (outcome.kind === 'reply' && outcome.reply.allowed) key = 'allowed';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
