import type { DemoModel } from './prices';
import { seededRandom, zipfSampler, type Random } from './random';

/** One request of the Azure LLM inference trace. */
export interface TraceRequest {
  /** Arrival time in milliseconds after the first request of the trace. */
  offsetMs: number;
  inputTokens: number;
  outputTokens: number;
}

/** A trace request with the person, model and outcome that the demo gives it. */
export interface AssignedRequest extends TraceRequest {
  /** Position of the request in the trace, from 0. */
  index: number;
  personId: string;
  model: DemoModel;
  /** True when the demo simulates a failed provider call, so it releases the reservation instead of committing it. */
  failsCall: boolean;
}

export class TraceFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceFormatError';
  }
}

const TRACE_HEADER = 'TIMESTAMP,ContextTokens,GeneratedTokens';
const TIMESTAMP_PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

/**
 * Parses the trace CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps like
 * `2023-11-16 18:15:46.6805900`). Offsets count from the first row and are rounded to
 * whole milliseconds. The timestamps carry no zone, and only their differences matter.
 * Throws TraceFormatError naming the line and the value for any malformed row.
 */
export function parseTrace(csv: string): TraceRequest[] {
  const lines = csv.split('\n').map((line) => line.replace(/\r$/, ''));
  if (lines[0] !== TRACE_HEADER) {
    throw new TraceFormatError(`trace header is ${JSON.stringify(lines[0])}; expected ${TRACE_HEADER}`);
  }

  const requests: TraceRequest[] = [];
  let firstMs: number | undefined;
  for (let lineIndex = 1; lineIndex < lines.length; lineIndex++) {
    const line = lines[lineIndex] ?? '';
    if (line === '') continue;
    const row = parseRow(line, lineIndex + 1);
    firstMs ??= row.epochMs;
    requests.push({ offsetMs: Math.round(row.epochMs - firstMs), inputTokens: row.inputTokens, outputTokens: row.outputTokens });
  }
  return requests;
}

function parseRow(line: string, lineNumber: number): { epochMs: number; inputTokens: number; outputTokens: number } {
  const fields = line.split(',');
  if (fields.length !== 3) {
    throw new TraceFormatError(`trace line ${lineNumber} has ${fields.length} fields; expected 3 (${TRACE_HEADER})`);
  }
  const [timestamp = '', context = '', generated = ''] = fields;
  return {
    epochMs: parseTimestamp(timestamp, lineNumber),
    inputTokens: parseTokenCount(context, 'ContextTokens', lineNumber),
    outputTokens: parseTokenCount(generated, 'GeneratedTokens', lineNumber),
  };
}

function parseTimestamp(value: string, lineNumber: number): number {
  const match = TIMESTAMP_PATTERN.exec(value);
  if (match === null) {
    throw new TraceFormatError(`trace line ${lineNumber} has TIMESTAMP ${JSON.stringify(value)}; expected YYYY-MM-DD HH:MM:SS.fffffff`);
  }
  const [, year, month, day, hour, minute, second, fraction = ''] = match;
  const wholeMs = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  const fractionMs = fraction === '' ? 0 : Number(`0.${fraction}`) * 1000;
  return wholeMs + fractionMs;
}

function parseTokenCount(value: string, column: string, lineNumber: number): number {
  if (!/^\d+$/.test(value)) {
    throw new TraceFormatError(`trace line ${lineNumber} has ${column} ${JSON.stringify(value)}; expected a non-negative integer`);
  }
  return Number(value);
}

/**
 * Share of requests per model. Most calls go to a small, cheap model, as in a typical
 * chat app. The weights are the demo's choice and not part of the trace.
 */
export const MODEL_MIX: readonly (readonly [DemoModel, number])[] = [
  ['gpt-4o-mini', 0.6],
  ['claude-haiku-4-5', 0.3],
  ['gpt-4.1', 0.1],
];

export interface AssignOptions {
  /** Number of persons, named `<personPrefix>001` and up. */
  persons: number;
  seed: number;
  /** Zipf exponent s: person k gets a share proportional to 1 / k^s. */
  zipfExponent?: number;
  /** Share of requests whose provider call fails. */
  failureRate?: number;
  personPrefix?: string;
}

export const DEFAULT_ZIPF_EXPONENT = 1.1;
export const DEFAULT_FAILURE_RATE = 0.02;

/**
 * Assigns each request a person, a model and whether its call fails, deterministically
 * for a given seed. Three independent PRNG streams are derived from the seed, so a change
 * to one rule leaves the others' draws unchanged:
 * - person: Zipf over ranks 1..persons, rank k named `user-00k`, so `user-001` is the
 *   heaviest user;
 * - model: drawn per request from MODEL_MIX;
 * - failure: each request fails with probability failureRate.
 */
export function assignPersons(requests: readonly TraceRequest[], options: AssignOptions): AssignedRequest[] {
  const exponent = options.zipfExponent ?? DEFAULT_ZIPF_EXPONENT;
  const failureRate = options.failureRate ?? DEFAULT_FAILURE_RATE;
  if (!(failureRate >= 0 && failureRate <= 1)) {
    throw new RangeError(`failureRate must be between 0 and 1, got ${failureRate}`);
  }
  if (!Number.isInteger(options.seed)) {
    throw new RangeError(`seed must be an integer, got ${options.seed}`);
  }

  const drawRank = zipfSampler(options.persons, exponent, seededRandom(options.seed));
  const modelRandom = seededRandom(options.seed ^ 0x9e3779b9);
  const failureRandom = seededRandom(options.seed ^ 0x85ebca6b);
  const prefix = options.personPrefix ?? 'user-';
  const digits = Math.max(3, String(options.persons).length);

  return requests.map((request, index) => ({
    ...request,
    index,
    personId: `${prefix}${String(drawRank()).padStart(digits, '0')}`,
    model: drawModel(modelRandom),
    failsCall: failureRandom() < failureRate,
  }));
}

function drawModel(random: Random): DemoModel {
  let remaining = random();
  let model: DemoModel = 'gpt-4o-mini';
  // The last model also takes the draws that the rounding of the shares leaves over.
  for (const [candidate, share] of MODEL_MIX) {
    model = candidate;
    if (remaining < share) break;
    remaining -= share;
  }
  return model;
}

/** Requests that the replay fires together, `atMs` after the replay starts. */
export interface ReplayBurst {
  atMs: number;
  /** Origin of the burst: `slot` for the arrivals of one time slot, `deliberate` for calls of one heavy person fired at once. */
  kind: 'slot' | 'deliberate';
  requests: AssignedRequest[];
}

export interface DeliberateBurstOptions {
  /** How many of the heaviest persons (by requested tokens) get a burst. */
  persons: number;
  /** Calls per burst. */
  size: number;
  /**
   * The burst starts with the first request that brings the person's requested tokens
   * to at least this many. Set it a little below the daily limit so the burst's parallel
   * reserves straddle the cap.
   */
  startAtTokens: number;
}

export interface ScheduleOptions {
  /** Replay pace relative to the trace: 30 replays 30 trace seconds per second. */
  speedup: number;
  /** Width of a slot in replay milliseconds. The requests of one slot fire together at its start. */
  slotMs?: number;
  deliberate?: DeliberateBurstOptions;
}

export const DEFAULT_SLOT_MS = 50;

/**
 * Plans the replay: each request is due at `offsetMs / speedup`, and the requests due
 * in one slot of `slotMs` fire together at the slot's start. With `deliberate`, the
 * heaviest persons each get `size` of their own requests pulled out of their slots and
 * fired at one instant (the due time of the first), so their reserves race for the last
 * quota in parallel. Returns the bursts by time, with every request in exactly one burst.
 */
export function replaySchedule(requests: readonly AssignedRequest[], options: ScheduleOptions): ReplayBurst[] {
  const slotMs = options.slotMs ?? DEFAULT_SLOT_MS;
  if (!(Number.isFinite(options.speedup) && options.speedup > 0)) {
    throw new RangeError(`speedup must be a positive number, got ${options.speedup}`);
  }
  if (!(Number.isFinite(slotMs) && slotMs > 0)) {
    throw new RangeError(`slotMs must be a positive number, got ${slotMs}`);
  }

  const dueMs = (request: AssignedRequest): number => request.offsetMs / options.speedup;
  const deliberate = options.deliberate === undefined ? [] : deliberateBursts(requests, options.deliberate, dueMs);
  const pulled = new Set(deliberate.flatMap((burst) => burst.requests));

  const slots = new Map<number, AssignedRequest[]>();
  for (const request of requests) {
    if (pulled.has(request)) continue;
    const slotStart = Math.floor(dueMs(request) / slotMs) * slotMs;
    const slot = slots.get(slotStart);
    if (slot === undefined) slots.set(slotStart, [request]);
    else slot.push(request);
  }

  const slotBursts: ReplayBurst[] = [...slots].map(([atMs, slotRequests]) => ({ atMs, kind: 'slot', requests: slotRequests }));
  // Array.prototype.sort is stable, so a deliberate burst follows a slot burst of the same time.
  return [...slotBursts, ...deliberate].sort((left, right) => left.atMs - right.atMs);
}

function deliberateBursts(
  requests: readonly AssignedRequest[],
  options: DeliberateBurstOptions,
  dueMs: (request: AssignedRequest) => number,
): ReplayBurst[] {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new RangeError(`deliberate.size must be a positive integer, got ${options.size}`);
  }
  const byPerson = groupByPerson(requests);
  const heaviest = [...byPerson.entries()]
    .sort(([leftId, left], [rightId, right]) => requestedTokens(right) - requestedTokens(left) || leftId.localeCompare(rightId))
    .slice(0, options.persons);

  return heaviest.map(([, own]) => {
    const start = Math.max(0, Math.min(indexReachingTokens(own, options.startAtTokens), own.length - options.size));
    const burstRequests = own.slice(start, start + options.size);
    const first = burstRequests[0];
    return { atMs: first === undefined ? 0 : dueMs(first), kind: 'deliberate', requests: burstRequests };
  });
}

function groupByPerson(requests: readonly AssignedRequest[]): Map<string, AssignedRequest[]> {
  const byPerson = new Map<string, AssignedRequest[]>();
  for (const request of requests) {
    const own = byPerson.get(request.personId);
    if (own === undefined) byPerson.set(request.personId, [request]);
    else own.push(request);
  }
  return byPerson;
}

/** Tokens that the demo reserves for a request: input plus output. */
export function requestTokens(request: TraceRequest): number {
  return request.inputTokens + request.outputTokens;
}

function requestedTokens(requests: readonly TraceRequest[]): number {
  return requests.reduce((sum, request) => sum + requestTokens(request), 0);
}

/** Index of the first request at which the running token total reaches `tokens`, or the length when none does. */
function indexReachingTokens(requests: readonly TraceRequest[], tokens: number): number {
  let total = 0;
  for (const [index, request] of requests.entries()) {
    total += requestTokens(request);
    if (total >= tokens) return index;
  }
  return requests.length;
}
