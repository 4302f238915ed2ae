import { applyEvent, emptyPersonState, type PersonState } from '@vevee/domain';
import { personKey, type LedgerEvent } from '@vevee/contracts';

import { ExpiryHeap } from './expiry-heap';
import type { PartitionWriter } from './partition-writer';
import type { PartitionSnapshot } from './snapshot-store';

export type PartitionStatus = 'recovering' | 'serving' | 'failed' | 'released';

/** One owned ledger partition: its persons' state, its writer and its recovery progress. */
export class OwnedPartition {
  status: PartitionStatus = 'recovering';
  /** The reason the partition stopped, when status is `failed`. */
  failure: string | undefined;
  readonly persons = new Map<string, PersonState>();
  /** Hold expiries and credit settlements, as wake-up times per person key. */
  readonly expiries = new ExpiryHeap();
  /** The credit settlement time scheduled in `expiries` per person key. */
  readonly creditSettlements = new Map<string, number>();
  /** The latest decision time in the partition; decisions never go back in time. */
  lastAt = 0;
  /** Events decided but not yet durable. */
  pendingEvents = 0;
  /** Settles when the last events decided in this partition are durable. */
  lastAppend: Promise<void> | undefined;
  writer: PartitionWriter | undefined;
  /** The replay still to read: from `next` up to, not including, `end`. */
  replay: { next: bigint; end: bigint } | undefined;
  /** The offset after the last event the state contains, once known. */
  durableEnd = 0n;
  /** Events appended since the last snapshot. */
  eventsSinceSnapshot = 0;
  /** Keys of the persons with events since the last snapshot, which the next one writes. */
  readonly changed = new Set<string>();
  /** Settles when the snapshot write in progress ends; one runs at a time. */
  snapshotWrite: Promise<void> | undefined;
  /** Wall-clock time of each person's latest command, for eviction. */
  readonly lastUsed = new Map<string, number>();
  /** Keys of the persons whose state was dropped from memory; their snapshot rows hold it. */
  readonly evicted = new Set<string>();
  /** Reads of evicted persons' states in progress, so concurrent commands share one. */
  readonly loading = new Map<string, Promise<void>>();
  /** Set while a snapshot waits for the partition to be quiet; new commands wait for it. */
  snapshotGate: Promise<void> | undefined;

  constructor(readonly partition: number) {}

  personState(key: string): PersonState {
    let state = this.persons.get(key);
    if (state === undefined) {
      state = emptyPersonState();
      this.persons.set(key, state);
    }
    return state;
  }

  /**
   * Drops the state of every person without a command since `before` whose
   * events a written snapshot holds, and returns how many it dropped. Call it
   * only while no snapshot write is in progress: a person the write carries
   * is in neither `changed` nor a committed row until it commits.
   */
  evictIdle(before: number): number {
    let count = 0;
    for (const key of this.persons.keys()) {
      if (this.changed.has(key) || (this.lastUsed.get(key) ?? 0) > before) continue;
      this.persons.delete(key);
      this.lastUsed.delete(key);
      this.evicted.add(key);
      count += 1;
    }
    return count;
  }

  restore(snapshot: PartitionSnapshot): void {
    for (const [key, state] of snapshot.persons) {
      this.persons.set(key, state);
      for (const hold of state.holds.values()) this.expiries.push(hold.expiresAt, key);
      // The next snapshot clears the older copy of every person, so it must write them all.
      if (snapshot.legacy) this.changed.add(key);
    }
    this.lastAt = snapshot.lastAt;
    this.durableEnd = snapshot.nextOffset;
  }

  /** Applies an event read back from the log during recovery. */
  replayEvent(event: LedgerEvent): void {
    const key = personKey(event.workspaceId, event.personId);
    applyEvent(this.personState(key), event);
    this.changed.add(key);
    if (event.type === 'QuotaReserved') {
      this.expiries.push(event.expiresAt, key);
    }
    if (event.at > this.lastAt) {
      this.lastAt = event.at;
    }
    this.eventsSinceSnapshot += 1;
  }
}
