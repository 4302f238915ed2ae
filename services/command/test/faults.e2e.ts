import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';

import { uniqueName, testRunDir, waitFor } from '@vevee/testing';

import { countsOf, foldWholeLedger, type LedgerFold } from './ledger-fold';
import { ErrorTally, describeLoad, runReserveCommitLoad, type CycleRecord } from './load';
import { LocalBroker } from './local-broker';
import { RunningProjectors, dayCounters } from './projectors';
import {
  LEDGER_PARTITIONS,
  OWNED_PARTITIONS,
  TEST_METER,
  TEST_WORKSPACE,
  createReplicaCluster,
  partitionOf,
  waitForSplit,
  type ReplicaCluster,
} from './replica-harness';

/** High enough that no person reaches it, so every cycle of the load stays meaningful. */
const DAY_LIMIT = 1_000_000;
/** Every fifth cycle requests more than the limit, so the ledger contains denials too. */
const reserveQuantity = (cycle: number) => (cycle % 5 === 4 ? DAY_LIMIT + 1 : 20);
/** How long one call may keep failing with retriable errors: longer than moving a partition (about the session timeout) or restarting the broker. */
const CALL_TIMEOUT_MS = 45_000;

/**
 * Lists every way the ledger differs from the replies the clients received:
 * each reserve reply has exactly its decision in the ledger, each commit its
 * quantity, and the ledger contains no decision that no client received.
 */
function differencesFromClients(fold: LedgerFold, records: CycleRecord[]): string[] {
  const differences: string[] = [];
  for (const record of records) {
    const decision = fold.decisions.get(record.idempotencyKey);
    if (decision === undefined) {
      differences.push(`${record.idempotencyKey}: answered ${record.allowed ? 'allowed' : 'denied'} but no decision in the ledger`);
      continue;
    }
    if (record.allowed !== (decision.type === 'QuotaReserved')) {
      differences.push(`${record.idempotencyKey}: answered ${record.allowed ? 'allowed' : 'denied'} but the ledger holds ${decision.type}`);
      continue;
    }
    if (!record.allowed || decision.type !== 'QuotaReserved') continue;
    if (decision.reservationId !== record.reservationId) {
      differences.push(`${record.idempotencyKey}: answered reservation ${record.reservationId} but the ledger holds ${decision.reservationId}`);
    }
    const commit = fold.commits.get(record.reservationId);
    if (commit?.quantity !== record.committed) {
      differences.push(`${record.reservationId}: committed ${record.committed} but the ledger holds ${commit === undefined ? 'no commit' : commit.quantity}`);
    }
  }
  const answered = new Set(records.map((record) => record.idempotencyKey));
  for (const key of fold.decisions.keys()) {
    if (!answered.has(key)) differences.push(`${key}: decided in the ledger but never answered to a client`);
  }
  return differences;
}

function expectLedgerMatchesClients(fold: LedgerFold, records: CycleRecord[]): void {
  expect(fold.repeatedKeys).toEqual([]);
  expect(fold.repeatedCommits).toEqual([]);
  expect(differencesFromClients(fold, records)).toEqual([]);
  expect(fold.decisions.size).toBe(records.length);
}

/** Counts cycles and keeps the time of each person's latest reserve reply. */
class Progress {
  cycles = 0;
  readonly lastAnswer = new Map<string, number>();

  record = (record: CycleRecord): void => {
    this.cycles += 1;
    this.lastAnswer.set(record.personId, record.answeredAt);
  };

  /** Returns true when every person received a reserve reply after `since`. */
  everyoneAnsweredAfter(persons: string[], since: number): boolean {
    return persons.every((personId) => (this.lastAnswer.get(personId) ?? 0) > since);
  }
}

describe('command replicas › faults under load', () => {
  let cluster: ReplicaCluster | undefined;
  let projectors: RunningProjectors | undefined;
  let broker: LocalBroker | undefined;

  afterEach(async () => {
    await projectors?.close();
    projectors = undefined;
    await cluster?.close();
    cluster = undefined;
    await broker?.stop();
    broker = undefined;
  });

  it('keeps accepted reservations after kill -9', async () => {
    cluster = await createReplicaCluster({ dayLimit: DAY_LIMIT });
    const [survivor, victim] = await Promise.all([cluster.start('replica-a'), cluster.start('replica-b')]);
    const split = await waitForSplit(survivor, victim);
    const persons = Array.from({ length: 50 }, (_, index) => `load-${index}`);
    const victimPersons = persons.filter((personId) => split.b.includes(partitionOf(personId)));
    expect(victimPersons.length).toBeGreaterThan(0);

    const errors = new ErrorTally();
    const progress = new Progress();
    let stop = false;
    const load = runReserveCommitLoad({
      sdk: cluster.sdk(survivor, { maxRetries: 0 }),
      persons,
      meter: TEST_METER,
      reserveQuantity,
      errors,
      callTimeoutMs: CALL_TIMEOUT_MS,
      shouldStop: () => stop,
      onCycle: progress.record,
    });
    // A failed load ends the test at once instead of at the waits' timeouts.
    load.catch(() => {
      stop = true;
    });

    await waitFor('200 cycles before the kill', () => progress.cycles >= 200 || stop, { timeoutMs: 30_000 });
    await victim.kill();
    const killedAt = Date.now();
    await waitFor('the survivor to own all 12 partitions', async () => (await survivor.metric(OWNED_PARTITIONS)) === LEDGER_PARTITIONS || stop, { timeoutMs: 30_000 });
    const ownedAllAt = Date.now();
    await waitFor('every person of the killed replica to be served again', () => progress.everyoneAnsweredAfter(victimPersons, killedAt) || stop, { timeoutMs: CALL_TIMEOUT_MS });
    const servedAgainAt = Date.now();
    const cyclesAfterTakeover = progress.cycles;
    await waitFor('200 more cycles on the survivor', () => progress.cycles >= cyclesAfterTakeover + 200 || stop, { timeoutMs: 30_000 });
    stop = true;
    const records = await load;
    console.log(`kill -9: ${describeLoad(records, errors)}, all 12 partitions owned ${ownedAllAt - killedAt} ms after the kill, every person served again after ${servedAgainAt - killedAt} ms`);

    expect(await survivor.metric(OWNED_PARTITIONS)).toBe(LEDGER_PARTITIONS);
    expect(errors.count('unavailable')).toBeGreaterThan(0);
    expect(records.filter((record) => record.allowed && record.committed === undefined)).toEqual([]);
    const fold = await foldWholeLedger(cluster.kafka, cluster.topic);
    expectLedgerMatchesClients(fold, records);

    projectors = await RunningProjectors.start(cluster.config, cluster.logger);
    await projectors.waitForFold(cluster.pool, fold, TEST_WORKSPACE);
    const counters = await dayCounters(cluster.pool, TEST_WORKSPACE, TEST_METER);
    for (const personId of persons) {
      const expected = fold.persons.get(personId);
      expect(counters.get(personId), personId).toEqual({ used: expected?.committedQuantity ?? 0, reserved: 0 });
    }
    expect(await projectors.countsByType(TEST_WORKSPACE)).toEqual(countsOf(fold));
  });

  it('recovers from a broker restart', async () => {
    broker = await LocalBroker.create(path.join(testRunDir(), uniqueName('broker')));
    await broker.start();
    cluster = await createReplicaCluster({ dayLimit: DAY_LIMIT, env: { KAFKA_BROKERS: broker.address } });
    const replica = await cluster.start('replica');
    const persons = Array.from({ length: 20 }, (_, index) => `restart-${index}`);

    const errors = new ErrorTally();
    const progress = new Progress();
    let stop = false;
    const load = runReserveCommitLoad({
      sdk: cluster.sdk(replica, { maxRetries: 0 }),
      persons,
      meter: TEST_METER,
      reserveQuantity,
      errors,
      callTimeoutMs: CALL_TIMEOUT_MS,
      shouldStop: () => stop,
      onCycle: progress.record,
    });
    load.catch(() => {
      stop = true;
    });

    await waitFor('200 cycles before the restart', () => progress.cycles >= 200 || stop, { timeoutMs: 30_000 });
    const stoppingAt = Date.now();
    // A one-node Kafka 4.4 broker loses a transaction that was between its
    // commit and its markers when the broker goes down: it starts again fenced,
    // finds no leader for the partition and skips the markers ("Couldn't find
    // leader endpoint ... can be skipped"), so the decision stays invisible
    // although the client received a committed reply. A replicated cluster moves
    // leadership instead. So the replica is frozen while the broker goes down,
    // once the committed ends stop moving; callers keep calling throughout.
    replica.signal('SIGSTOP');
    await waitForQuietLedger(cluster.kafka, cluster.topic);
    await broker.crash();
    replica.signal('SIGCONT');
    await waitFor('callers to see the outage', () => errors.count('unavailable') > 0 || stop, { timeoutMs: 30_000 });
    await broker.start();
    const restartedAt = Date.now();
    await waitFor('every person to be served after the restart', () => progress.everyoneAnsweredAfter(persons, restartedAt) || stop, { timeoutMs: CALL_TIMEOUT_MS });
    const servedAgainAt = Date.now();
    const cyclesAfterRestart = progress.cycles;
    await waitFor('200 more cycles after the restart', () => progress.cycles >= cyclesAfterRestart + 200 || stop, { timeoutMs: 30_000 });
    stop = true;
    const records = await load;
    console.log(`broker restart: ${describeLoad(records, errors)}, broker down for ${restartedAt - stoppingAt} ms, every person served ${servedAgainAt - restartedAt} ms after it was back`);

    expect(errors.count('unavailable')).toBeGreaterThan(0);
    expect(records.filter((record) => record.allowed && record.committed === undefined)).toEqual([]);
    const fold = await foldWholeLedger(cluster.kafka, cluster.topic);
    expectLedgerMatchesClients(fold, records);
  });
});

/** Waits until the ledger's committed end offsets are the same in two reads 100 ms apart. */
async function waitForQuietLedger(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let previous = '';
    await waitFor(
      'the ledger to stop moving',
      async () => {
        const current = JSON.stringify(await admin.fetchTopicOffsets(topic));
        const quiet = current === previous;
        previous = current;
        return quiet;
      },
      { intervalMs: 100, timeoutMs: 10_000 },
    );
  } finally {
    await admin.disconnect();
  }
}
