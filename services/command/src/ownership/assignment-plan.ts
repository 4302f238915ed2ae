export interface MemberClaim {
  memberId: string;
  /** Partitions the member owns now; it keeps them where the balance allows. */
  owned: number[];
}

/**
 * Spreads partitions over members evenly (counts differ by at most one) while
 * moving as few as possible: each member keeps what it owns up to its share,
 * and only the rest moves. Deterministic for the same input.
 */
export function planAssignment(partitions: number[], members: MemberClaim[]): Map<string, number[]> {
  const plan = new Map<string, number[]>();
  if (members.length === 0) return plan;

  const sorted = [...members].sort((a, b) => b.owned.length - a.owned.length || a.memberId.localeCompare(b.memberId));
  const base = Math.floor(partitions.length / members.length);
  let extras = partitions.length % members.length;
  const valid = new Set(partitions);
  const taken = new Set<number>();

  for (const member of sorted) {
    const kept: number[] = [];
    for (const partition of [...member.owned].sort((a, b) => a - b)) {
      if (!valid.has(partition) || taken.has(partition)) continue;
      if (kept.length >= base) {
        if (kept.length > base || extras === 0) continue;
        extras -= 1;
      }
      kept.push(partition);
      taken.add(partition);
    }
    plan.set(member.memberId, kept);
  }

  const free = partitions.filter((partition) => !taken.has(partition)).sort((a, b) => a - b);
  const byId = [...members].sort((a, b) => a.memberId.localeCompare(b.memberId));
  for (const member of byId) {
    const assigned = plan.get(member.memberId)!;
    while (assigned.length < base && free.length > 0) assigned.push(free.shift()!);
  }
  for (const member of byId) {
    const assigned = plan.get(member.memberId)!;
    if (free.length > 0 && extras > 0 && assigned.length === base) {
      assigned.push(free.shift()!);
      extras -= 1;
    }
  }
  for (const assigned of plan.values()) assigned.sort((a, b) => a - b);
  return plan;
}
