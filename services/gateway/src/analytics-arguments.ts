import { GraphQLScalarType } from 'graphql';

import type { PeopleSortField, PropertyFilter, PropertyOperator } from '@vevee/clickhouse';

import { badUserInput } from './errors';

/** Person ids follow the RPC API's rule: 1 to 256 characters, no control characters. */
const PERSON_ID = /^[^\p{Cc}]{1,256}$/u;
/** Property keys and event names: 1 to 200 characters, no control characters. */
const NAME = /^[^\p{Cc}]{1,200}$/u;

export const MAX_PEOPLE_LIMIT = 500;
export const MAX_TIMELINE_LIMIT = 1_000;
/** Maximum paging offset; deeper pages need a filter or another sort order. */
export const MAX_OFFSET = 100_000;
export const MAX_FILTERS = 20;
export const MAX_BREAKDOWN_KEYS = 10;
export const MAX_FUNNEL_STEPS = 10;
/** Maximum funnel conversion window: 90 days, in seconds. */
export const MAX_FUNNEL_WINDOW_SECONDS = 90 * 86_400;

/** Cells of a SQL result pass through as the JSON values ClickHouse wrote. */
export const SqlValueScalar = new GraphQLScalarType({
  name: 'SqlValue',
  description: "Any JSON value: a cell of a SQL result as ClickHouse's JSON output writes it.",
  serialize: (value) => value,
});

export function checkPersonId(argument: string, id: string): void {
  if (!PERSON_ID.test(id)) {
    throw badUserInput(argument, `argument "${argument}" is invalid: send a person id of 1 to 256 characters without control characters`);
  }
}

export function checkPage(limitArgument: string, limit: number, max: number, offset: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw badUserInput(limitArgument, `argument "${limitArgument}" is ${limit}: send a whole number from 1 to ${max}, and page with "offset"`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
    throw badUserInput('offset', `argument "offset" is ${offset}: send a whole number from 0 to ${MAX_OFFSET}; narrow the request with filters to reach rows further on`);
  }
}

export function checkOptionalRange(from: Date | undefined, to: Date | undefined): void {
  if (from !== undefined && to !== undefined && to.getTime() <= from.getTime()) {
    throw badUserInput('to', `argument "to" (${to.toISOString()}) must be later than argument "from" (${from.toISOString()}): the range is [from, to)`);
  }
}

const OPERATORS: Record<string, PropertyOperator> = {
  EQUALS: 'equals',
  NOT_EQUALS: 'not_equals',
  CONTAINS: 'contains',
  IS_SET: 'is_set',
  IS_NOT_SET: 'is_not_set',
};
const VALUE_OPERATORS = new Set<PropertyOperator>(['equals', 'not_equals', 'contains']);

/** The PropertyFilter input as GraphQL passes it. */
export interface PropertyFilterInput {
  key: string;
  operator: string;
  value?: string | null;
}

export function toPropertyFilters(inputs: PropertyFilterInput[] | null | undefined): PropertyFilter[] {
  const filters = inputs ?? [];
  if (filters.length > MAX_FILTERS) {
    throw badUserInput('filters', `argument "filters" has ${filters.length} filters, more than the maximum of ${MAX_FILTERS}: combine or remove some`);
  }
  return filters.map((input, index) => {
    const field = `filters[${index}]`;
    if (!NAME.test(input.key)) {
      throw badUserInput('filters', `argument "${field}.key" is invalid: send a property key of 1 to 200 characters without control characters`);
    }
    const operator = OPERATORS[input.operator];
    if (operator === undefined) {
      throw badUserInput('filters', `argument "${field}.operator" is ${JSON.stringify(input.operator)}: use one of ${Object.keys(OPERATORS).join(', ')}`);
    }
    const value = input.value ?? undefined;
    if (VALUE_OPERATORS.has(operator) && value === undefined) {
      throw badUserInput('filters', `argument "${field}.value" is missing: operator ${input.operator} compares with a value, so send one`);
    }
    if (!VALUE_OPERATORS.has(operator) && value !== undefined) {
      throw badUserInput('filters', `argument "${field}.value" is set, but operator ${input.operator} takes no value: remove it`);
    }
    if (value !== undefined && value.length > 1_000) {
      throw badUserInput('filters', `argument "${field}.value" has ${value.length} characters, more than the maximum of 1000`);
    }
    return { key: input.key, operator, value };
  });
}

export function checkBreakdownKeys(keys: string[] | null | undefined): string[] {
  const list = keys ?? [];
  if (list.length > MAX_BREAKDOWN_KEYS) {
    throw badUserInput('breakdownKeys', `argument "breakdownKeys" has ${list.length} keys, more than the maximum of ${MAX_BREAKDOWN_KEYS}`);
  }
  list.forEach((key, index) => {
    if (!NAME.test(key)) {
      throw badUserInput('breakdownKeys', `argument "breakdownKeys[${index}]" is invalid: send a property key of 1 to 200 characters without control characters`);
    }
    if (list.indexOf(key) !== index) {
      throw badUserInput('breakdownKeys', `argument "breakdownKeys" repeats ${JSON.stringify(key)}: send each key once`);
    }
  });
  return list;
}

export function checkSearch(search: string | null | undefined): string | undefined {
  if (search === null || search === undefined) return undefined;
  if (search.length === 0 || search.length > 256) {
    throw badUserInput('search', `argument "search" has ${search.length} characters: send 1 to 256, or leave it out`);
  }
  return search;
}

const SORT_FIELDS: Record<string, PeopleSortField> = { FIRST_SEEN: 'first_seen', LAST_SEEN: 'last_seen', ID: 'id' };

export function toSortField(sortBy: string): PeopleSortField {
  const field = SORT_FIELDS[sortBy];
  if (field === undefined) throw badUserInput('sortBy', `argument "sortBy" is ${JSON.stringify(sortBy)}: use one of ${Object.keys(SORT_FIELDS).join(', ')}`);
  return field;
}

export function checkFunnel(steps: string[], windowSeconds: number): void {
  if (steps.length < 2 || steps.length > MAX_FUNNEL_STEPS) {
    throw badUserInput('steps', `argument "steps" has ${steps.length} steps: send 2 to ${MAX_FUNNEL_STEPS} event names in funnel order`);
  }
  steps.forEach((step, index) => {
    if (!NAME.test(step)) {
      throw badUserInput('steps', `argument "steps[${index}]" is invalid: send an event name of 1 to 200 characters without control characters`);
    }
  });
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > MAX_FUNNEL_WINDOW_SECONDS) {
    throw badUserInput('windowSeconds', `argument "windowSeconds" is ${windowSeconds}: send a whole number of seconds from 1 to ${MAX_FUNNEL_WINDOW_SECONDS} (90 days)`);
  }
}
