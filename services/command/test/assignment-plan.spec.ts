import { describe, expect, it } from 'vitest';

import { planAssignment } from '../src/ownership/assignment-plan';

const twelve = Array.from({ length: 12 }, (_, partition) => partition);

function counts(plan: Map<string, number[]>): number[] {
  return [...plan.values()].map((assigned) => assigned.length).sort();
}

describe('planAssignment', () => {
  it('gives one member every partition', () => {
    expect(planAssignment(twelve, [{ memberId: 'a', owned: [] }]).get('a')).toEqual(twelve);
  });

  it('moves only half when a second member joins', () => {
    const plan = planAssignment(twelve, [
      { memberId: 'a', owned: twelve },
      { memberId: 'b', owned: [] },
    ]);
    expect(counts(plan)).toEqual([6, 6]);
    expect(plan.get('a')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(plan.get('b')).toEqual([6, 7, 8, 9, 10, 11]);
  });

  it('hands a departed member partitions to the others', () => {
    const plan = planAssignment(twelve, [
      { memberId: 'a', owned: [0, 1, 2, 3] },
      { memberId: 'c', owned: [8, 9, 10, 11] },
    ]);
    expect(plan.get('a')!.slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(plan.get('c')).toEqual(expect.arrayContaining([8, 9, 10, 11]));
    expect(counts(plan)).toEqual([6, 6]);
    expect(new Set([...plan.get('a')!, ...plan.get('c')!]).size).toBe(12);
  });

  it('never assigns a partition twice when claims overlap', () => {
    const plan = planAssignment(twelve, [
      { memberId: 'a', owned: [0, 1, 2] },
      { memberId: 'b', owned: [2, 3, 4] },
      { memberId: 'c', owned: [] },
    ]);
    const all = [...plan.values()].flat();
    expect(all.sort((x, y) => x - y)).toEqual(twelve);
    expect(counts(plan)).toEqual([4, 4, 4]);
  });

  it('balances an uneven split within one partition', () => {
    const plan = planAssignment(twelve, [
      { memberId: 'a', owned: twelve },
      { memberId: 'b', owned: [] },
      { memberId: 'c', owned: [] },
      { memberId: 'd', owned: [] },
      { memberId: 'e', owned: [] },
    ]);
    expect(counts(plan)).toEqual([2, 2, 2, 3, 3]);
  });
});
