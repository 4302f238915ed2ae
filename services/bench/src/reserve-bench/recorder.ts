import type { BenchRequest } from './workload';

/** Latency samples in milliseconds; percentiles sort a copy once. */
export class LatencySamples {
  private values = new Float64Array(4096);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(milliseconds: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = milliseconds;
  }

  /** Returns the nearest-rank percentiles for each `quantile` in [0, 1], or NaN without samples. */
  percentiles(quantiles: readonly number[]): number[] {
    if (this.count === 0) return quantiles.map(() => Number.NaN);
    const sorted = this.values.slice(0, this.count).sort();
    return quantiles.map((quantile) => sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(quantile * this.count) - 1))]!);
  }
}

/**
 * Counts, per person, the committed tokens in the order commits were acknowledged, and
 * every commit that took a person's total over the limit: a reservation the system
 * should have denied.
 */
export class OversellTally {
  private readonly committed = new Map<string, number>();
  oversoldReservations = 0;

  constructor(private readonly limit: number) {}

  addCommit(personId: string, tokens: number): void {
    const total = (this.committed.get(personId) ?? 0) + tokens;
    this.committed.set(personId, total);
    if (total > this.limit) this.oversoldReservations++;
  }

  /** Tokens committed over the limit, summed over persons. */
  oversoldTokens(): number {
    let over = 0;
    for (const total of this.committed.values()) over += Math.max(0, total - this.limit);
    return over;
  }
}

/** Measurements of one phase. Throughput counts completions inside the measurement window. */
export class PhaseRecorder {
  readonly reserveLatency = new LatencySamples();
  readonly errors = new Map<string, number>();
  /** The first error message seen for each code. */
  readonly errorMessages = new Map<string, string>();
  readonly oversell: OversellTally;
  allowed = 0;
  denied = 0;
  reservesInWindow = 0;
  /** Reserve, commit and release calls that completed inside the window. */
  callsInWindow = 0;
  windowStart = Number.POSITIVE_INFINITY;
  windowEnd = Number.POSITIVE_INFINITY;

  constructor(tokenLimit: number) {
    this.oversell = new OversellTally(tokenLimit);
  }

  setWindow(start: number, end: number): void {
    this.windowStart = start;
    this.windowEnd = end;
  }

  /** Records a reserve reply; `startedAt` is the scheduled send time in an open loop, the send time in a closed one. */
  reserveReplied(startedAt: number, repliedAt: number, allowed: boolean, measured: boolean): void {
    this.countCall(repliedAt);
    if (this.inWindow(repliedAt)) this.reservesInWindow++;
    if (!measured) return;
    this.reserveLatency.add(repliedAt - startedAt);
    if (allowed) this.allowed++;
    else this.denied++;
  }

  /** Records a finished commit or release. Every commit counts toward oversell, warm-up included, because the counters span the phase. */
  followUpDone(request: BenchRequest, doneAt: number, committed: boolean): void {
    this.countCall(doneAt);
    if (committed) this.oversell.addCommit(request.personId, request.tokens);
  }

  failed(code: string, message: string, measured: boolean): void {
    if (!measured) return;
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    if (!this.errorMessages.has(code)) this.errorMessages.set(code, message);
  }

  errorCount(): number {
    let total = 0;
    for (const count of this.errors.values()) total += count;
    return total;
  }

  private countCall(at: number): void {
    if (this.inWindow(at)) this.callsInWindow++;
  }

  private inWindow(at: number): boolean {
    return at >= this.windowStart && at < this.windowEnd;
  }
}
