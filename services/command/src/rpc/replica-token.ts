import { timingSafeEqual } from 'node:crypto';

import { Injectable } from '@nestjs/common';

/** Marks a call from one command replica to another. */
export const REPLICA_TOKEN_HEADER = 'vevee-replica-token';

/** The token the command replicas share through PostgreSQL (table cluster_secrets). */
@Injectable()
export class ReplicaToken {
  private token: Buffer | undefined;

  set(token: string): void {
    this.token = Buffer.from(token);
  }

  /** Returns the header value for calls to other replicas. */
  value(): string {
    if (this.token === undefined) throw new Error('the replica token is not loaded yet');
    return this.token.toString();
  }

  /** Returns true when `presented` is the token, compared in constant time. */
  matches(presented: string | null): boolean {
    if (presented === null || this.token === undefined) return false;
    const candidate = Buffer.from(presented);
    return candidate.length === this.token.length && timingSafeEqual(candidate, this.token);
  }
}
