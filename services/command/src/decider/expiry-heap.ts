interface Entry {
  expiresAt: number;
  personKey: string;
}

/** A min-heap of hold expiry times, so the sweeper finds due holds without scanning every person. */
export class ExpiryHeap {
  private readonly entries: Entry[] = [];

  get size(): number {
    return this.entries.length;
  }

  push(expiresAt: number, personKey: string): void {
    const entries = this.entries;
    entries.push({ expiresAt, personKey });
    let index = entries.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (entries[parent]!.expiresAt <= entries[index]!.expiresAt) break;
      [entries[parent], entries[index]] = [entries[index]!, entries[parent]!];
      index = parent;
    }
  }

  /** Removes and returns the persons with an entry due at or before `now`, each once. */
  popDue(now: number): Set<string> {
    const due = new Set<string>();
    while (this.entries.length > 0 && this.entries[0]!.expiresAt <= now) {
      due.add(this.pop().personKey);
    }
    return due;
  }

  clear(): void {
    this.entries.length = 0;
  }

  private pop(): Entry {
    const entries = this.entries;
    const top = entries[0]!;
    const last = entries.pop()!;
    if (entries.length > 0) {
      entries[0] = last;
      let index = 0;
      for (;;) {
        const left = index * 2 + 1;
        const right = left + 1;
        let smallest = index;
        if (left < entries.length && entries[left]!.expiresAt < entries[smallest]!.expiresAt) smallest = left;
        if (right < entries.length && entries[right]!.expiresAt < entries[smallest]!.expiresAt) smallest = right;
        if (smallest === index) break;
        [entries[smallest], entries[index]] = [entries[index]!, entries[smallest]!];
        index = smallest;
      }
    }
    return top;
  }
}
