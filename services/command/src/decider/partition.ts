import { applyEvent, emptyPersonState, type PersonState } from '@vevee/domain';
import type { LedgerEvent } from '@vevee/contracts';
import { personKey } from '@vevee/contracts';

import { ExpiryHeap } from './expiry-heap';

export type PartitionStatus = 'recovering' | 'serving' | 'failed';

/** One ledger partition's in-memory state, owned by this process. */
export class PartitionState {
  status: PartitionStatus = 'recovering';
  readonly persons = new Map<string, PersonState>();
  readonly expiries = new ExpiryHeap();
  /** The latest decision time in the partition; decisions never go back in time. */
  lastAt = 0;
  /** Events decided but not yet durable. */
  pendingEvents = 0;
  /** Settles when the last events decided in this partition are durable. */
  lastAppend: Promise<void> | undefined;

  constructor(readonly partition: number) {}

  personState(key: string): PersonState {
    let state = this.persons.get(key);
    if (state === undefined) {
      state = emptyPersonState();
      this.persons.set(key, state);
    }
    return state;
  }

  /** Applies an event read back from the log during recovery. */
  replay(event: LedgerEvent): void {
    const key = personKey(event.workspaceId, event.personId);
    applyEvent(this.personState(key), event);
    if (event.type === 'QuotaReserved') {
      this.expiries.push(event.expiresAt, key);
    }
    if (event.at > this.lastAt) {
      this.lastAt = event.at;
    }
  }

  reset(): void {
    this.status = 'recovering';
    this.persons.clear();
    this.expiries.clear();
    this.lastAt = 0;
    this.pendingEvents = 0;
    this.lastAppend = undefined;
  }
}
