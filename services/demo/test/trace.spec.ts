import { describe, expect, it } from 'vitest';

import { assignPersons, MODEL_MIX, parseTrace, replaySchedule, requestTokens, TraceFormatError, type AssignedRequest, type TraceRequest } from '../src/trace';
import { loadTrace } from '../src/trace-file';

const SAMPLE_CSV = [
  'TIMESTAMP,ContextTokens,GeneratedTokens',
  '2023-11-16 18:15:46.6805900,374,44',
  '2023-11-16 18:15:50.9951690,396,109',
  '2023-11-16 18:15:51.2224670,879,55',
  '',
].join('\n');

function traceRequest(offsetMs: number, inputTokens = 100, outputTokens = 50): TraceRequest {
  return { offsetMs, inputTokens, outputTokens };
}

function assigned(index: number, personId: string, offsetMs: number, tokens = 150): AssignedRequest {
  return { index, personId, offsetMs, inputTokens: tokens - 50, outputTokens: 50, model: 'gpt-4o-mini', failsCall: false };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

describe('parseTrace', () => {
  it('parses offsets and token counts', () => {
    const requests = parseTrace(SAMPLE_CSV);

    expect(requests).toEqual([
      { offsetMs: 0, inputTokens: 374, outputTokens: 44 },
      // 50.9951690 s - 46.6805900 s = 4314.579 ms, rounded.
      { offsetMs: 4315, inputTokens: 396, outputTokens: 109 },
      { offsetMs: 4542, inputTokens: 879, outputTokens: 55 },
    ]);
  });

  it('accepts CRLF line endings', () => {
    expect(parseTrace(SAMPLE_CSV.replaceAll('\n', '\r\n'))).toEqual(parseTrace(SAMPLE_CSV));
  });

  it('rejects an unknown header', () => {
    expect(() => parseTrace('time,in,out\n2023-11-16 18:15:46.68,1,2')).toThrow(TraceFormatError);
    expect(() => parseTrace('time,in,out\n')).toThrow(/expected TIMESTAMP,ContextTokens,GeneratedTokens/);
  });

  it('names the line of a malformed row', () => {
    const badTokens = `${SAMPLE_CSV}2023-11-16 18:15:52.0000000,12,-3\n`;
    const badTime = `${SAMPLE_CSV}16/11/2023 18:15,12,3\n`;
    const missingField = `${SAMPLE_CSV}2023-11-16 18:15:52.0000000,12\n`;

    expect(() => parseTrace(badTokens)).toThrow('trace line 5 has GeneratedTokens "-3"');
    expect(() => parseTrace(badTime)).toThrow('trace line 5 has TIMESTAMP "16/11/2023 18:15"');
    expect(() => parseTrace(missingField)).toThrow('trace line 5 has 2 fields');
  });
});

describe('loadTrace', () => {
  it('reads every row of the repository copy', async () => {
    const requests = await loadTrace();

    // The dataset's README states 19,365 requests, but the CSV contains 19,366 data rows.
    expect(requests).toHaveLength(19_366);
    expect(requests[0]).toEqual({ offsetMs: 0, inputTokens: 374, outputTokens: 44 });
    // 19:14:08.4025270 - 18:15:46.6805900 = 3,501,721.937 ms.
    expect(requests.at(-1)).toEqual({ offsetMs: 3_501_722, inputTokens: 197, outputTokens: 183 });
    expect(requests.every((request, index) => index === 0 || request.offsetMs >= (requests[index - 1]?.offsetMs ?? 0))).toBe(true);
  });
});

describe('assignPersons', () => {
  it('assigns the same persons for the same seed', async () => {
    const trace = (await loadTrace()).slice(0, 2_000);

    const first = assignPersons(trace, { persons: 300, seed: 7 });
    const second = assignPersons(trace, { persons: 300, seed: 7 });
    const otherSeed = assignPersons(trace, { persons: 300, seed: 8 });

    expect(second).toEqual(first);
    expect(otherSeed.map((request) => request.personId)).not.toEqual(first.map((request) => request.personId));
  });

  it('assigns a prefix of the trace as the whole trace does', async () => {
    const trace = await loadTrace();

    const whole = assignPersons(trace, { persons: 300, seed: 7 });
    const prefix = assignPersons(trace.slice(0, 500), { persons: 300, seed: 7 });

    expect(prefix).toEqual(whole.slice(0, 500));
  });

  it('keeps trace fields and numbers requests', () => {
    const trace = [traceRequest(0, 10, 20), traceRequest(5, 30, 40)];

    const requests = assignPersons(trace, { persons: 3, seed: 1 });

    expect(requests.map((request) => request.index)).toEqual([0, 1]);
    expect(requests[1]).toMatchObject({ offsetMs: 5, inputTokens: 30, outputTokens: 40 });
  });

  it('names persons user-001 to user-300', async () => {
    const requests = assignPersons(await loadTrace(), { persons: 300, seed: 7 });
    const ids = new Set(requests.map((request) => request.personId));

    expect([...ids].every((id) => /^user-(\d{3})$/.test(id))).toBe(true);
    const ranks = [...ids].map((id) => Number(id.slice('user-'.length)));
    expect(Math.min(...ranks)).toBe(1);
    expect(Math.max(...ranks)).toBeLessThanOrEqual(300);
    expect(ids.size).toBeGreaterThan(250);
  });

  it('skews requests toward low ranks as Zipf 1.1 does', async () => {
    const requests = assignPersons(await loadTrace(), { persons: 300, seed: 20231116 });
    const counts = countBy(requests, (request) => request.personId);
    const harmonic = Array.from({ length: 300 }, (_, index) => (index + 1) ** -1.1);
    const total = harmonic.reduce((sum, weight) => sum + weight, 0);
    const expectedTop = (harmonic[0] ?? 0) / total;
    const expectedTop30 = harmonic.slice(0, 30).reduce((sum, weight) => sum + weight, 0) / total;

    const sorted = [...counts.values()].sort((left, right) => right - left);
    const top30 = sorted.slice(0, 30).reduce((sum, count) => sum + count, 0);

    expect(sorted[0]).toBe(counts.get('user-001'));
    expect((counts.get('user-001') ?? 0) / requests.length).toBeCloseTo(expectedTop, 1);
    expect(top30 / requests.length).toBeCloseTo(expectedTop30, 1);
    expect(top30 / requests.length).toBeGreaterThan(0.6);
    expect(counts.get('user-001') ?? 0).toBeGreaterThan(10 * (counts.get('user-100') ?? 0));
  });

  it('fails about 2% of calls', async () => {
    const requests = assignPersons(await loadTrace(), { persons: 300, seed: 20231116 });
    const failed = requests.filter((request) => request.failsCall).length;

    expect(failed / requests.length).toBeGreaterThan(0.015);
    expect(failed / requests.length).toBeLessThan(0.025);
  });

  it('draws models in the shares of MODEL_MIX', async () => {
    const requests = assignPersons(await loadTrace(), { persons: 300, seed: 20231116 });
    const counts = countBy(requests, (request) => request.model);

    for (const [model, share] of MODEL_MIX) {
      expect((counts.get(model) ?? 0) / requests.length).toBeCloseTo(share, 1);
    }
  });

  it('rejects an invalid failure rate or seed', () => {
    expect(() => assignPersons([], { persons: 3, seed: 1, failureRate: 1.5 })).toThrow('failureRate must be between 0 and 1');
    expect(() => assignPersons([], { persons: 3, seed: 1.5 })).toThrow('seed must be an integer');
    expect(() => assignPersons([], { persons: 0, seed: 1 })).toThrow('zipf n must be a positive integer');
  });
});

describe('replaySchedule', () => {
  it('fires each request at its slot start', () => {
    const requests = [assigned(0, 'a', 0), assigned(1, 'b', 1_200), assigned(2, 'a', 1_400), assigned(3, 'c', 3_100)];

    const schedule = replaySchedule(requests, { speedup: 20, slotMs: 50 });

    // Due times are 0, 60, 70 and 155 ms; slots of 50 ms start at 0, 50, 50 and 150.
    expect(schedule.map((burst) => [burst.atMs, burst.kind, burst.requests.map((request) => request.index)])).toEqual([
      [0, 'slot', [0]],
      [50, 'slot', [1, 2]],
      [150, 'slot', [3]],
    ]);
  });

  it('keeps every request once, by time', async () => {
    const requests = assignPersons((await loadTrace()).slice(0, 3_000), { persons: 300, seed: 1 });

    const schedule = replaySchedule(requests, { speedup: 30, deliberate: { persons: 5, size: 16, startAtTokens: 140_000 } });
    const indexes = schedule.flatMap((burst) => burst.requests.map((request) => request.index)).sort((left, right) => left - right);

    expect(indexes).toEqual(requests.map((request) => request.index));
    expect(schedule.every((burst, position) => position === 0 || burst.atMs >= (schedule[position - 1]?.atMs ?? 0))).toBe(true);
  });

  it('groups the real trace into parallel slots', async () => {
    const requests = assignPersons((await loadTrace()).slice(0, 3_000), { persons: 300, seed: 1 });

    const schedule = replaySchedule(requests, { speedup: 30 });
    const sizes = schedule.map((burst) => burst.requests.length);

    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(5);
    expect(sizes.filter((size) => size >= 2).length).toBeGreaterThan(schedule.length / 2);
    // 3,000 requests over about 629 trace seconds take about 21 s at 30x.
    expect(schedule.at(-1)?.atMs).toBeLessThan(25_000);
  });

  it('fires deliberate bursts of one heavy person at one instant', () => {
    const heavy = Array.from({ length: 10 }, (_, index) => assigned(index, 'heavy', index * 1_000, 100));
    const light = [assigned(10, 'light', 500, 100), assigned(11, 'light', 9_500, 100)];

    const schedule = replaySchedule([...heavy, ...light].sort((left, right) => left.offsetMs - right.offsetMs), {
      speedup: 1,
      deliberate: { persons: 1, size: 3, startAtTokens: 450 },
    });
    const deliberate = schedule.filter((burst) => burst.kind === 'deliberate');

    // The running total reaches 450 tokens at the 5th request (index 4, due at 4,000 ms).
    expect(deliberate).toHaveLength(1);
    expect(deliberate[0]?.atMs).toBe(4_000);
    expect(deliberate[0]?.requests.map((request) => request.index)).toEqual([4, 5, 6]);
    const slotIndexes = schedule.filter((burst) => burst.kind === 'slot').flatMap((burst) => burst.requests.map((request) => request.index));
    expect(slotIndexes).not.toContain(5);
    expect(slotIndexes).toContain(7);
  });

  it('takes the last requests when a person never reaches the start', () => {
    const requests = Array.from({ length: 4 }, (_, index) => assigned(index, 'p', index * 100, 100));

    const schedule = replaySchedule(requests, { speedup: 1, deliberate: { persons: 1, size: 2, startAtTokens: 1_000_000 } });

    expect(schedule.find((burst) => burst.kind === 'deliberate')?.requests.map((request) => request.index)).toEqual([2, 3]);
  });

  it('bursts the heaviest persons of the real trace near the cap', async () => {
    const requests = assignPersons((await loadTrace()).slice(0, 3_000), { persons: 300, seed: 20231116 });

    const schedule = replaySchedule(requests, { speedup: 30, deliberate: { persons: 5, size: 16, startAtTokens: 140_000 } });
    const deliberate = schedule.filter((burst) => burst.kind === 'deliberate');

    expect(deliberate).toHaveLength(5);
    for (const burst of deliberate) {
      const personIds = new Set(burst.requests.map((request) => request.personId));
      expect(personIds.size).toBe(1);
      expect(burst.requests).toHaveLength(16);
      const [personId] = personIds;
      const first = burst.requests[0]?.index ?? 0;
      const before = requests.filter((request) => request.personId === personId && request.index < first).reduce((sum, request) => sum + requestTokens(request), 0);
      expect(before).toBeLessThan(140_000);
      expect(before + requestTokens(burst.requests[0] as AssignedRequest)).toBeGreaterThanOrEqual(140_000);
    }
  });

  it('rejects a speedup that is not positive', () => {
    expect(() => replaySchedule([], { speedup: 0 })).toThrow('speedup must be a positive number, got 0');
    expect(() => replaySchedule([], { speedup: Number.NaN })).toThrow('speedup must be a positive number');
  });
});
