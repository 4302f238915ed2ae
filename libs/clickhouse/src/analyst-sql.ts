import type { ClickHouseClient } from '@clickhouse/client';

import { quoteDatabase } from './identifiers';

/** Tables and views that analysts' SQL may read. Every one has a workspace_id column. */
export const ANALYST_TABLES = [
  'events',
  'events_resolved',
  'events_hourly',
  'events_daily',
  'denials',
  'reservations',
  'persons',
  'person_aliases',
  'person_alias_map',
  'person_properties',
  'person_property_values',
  'person_activity',
] as const;

/** Maximum length of one analyst query, in characters. */
export const MAX_ANALYST_QUERY_LENGTH = 20_000;
/** Maximum rows one analyst query returns; a larger result is cut to this many and marked truncated. */
export const MAX_ANALYST_RESULT_ROWS = 10_000;
/** Maximum run time of one analyst query, in seconds. */
export const MAX_ANALYST_QUERY_SECONDS = 10;
/**
 * The maximum memory of one analyst query, 1 GiB. On the embedded engine the
 * query runs in the process that also decides quotas.
 */
export const MAX_ANALYST_QUERY_BYTES = 1024 ** 3;

/**
 * Scalar functions that read outside the analytics tables: the local file
 * system, dictionaries and Join tables. Table functions (file(), url(),
 * remote(), …) are rejected separately, from the query tree.
 */
const FORBIDDEN_FUNCTIONS = new Set([
  'file',
  'joinget',
  'joingetornull',
  'getserversetting',
  'getmergetreesetting',
  'getmacro',
  'filesystemavailable',
  'filesystemcapacity',
  'filesystemunreserved',
  // Settings and schema of the engine, and waiting, which analysts have no use for.
  'getsetting',
  'hascolumnintable',
  'sleep',
  'sleepeachrow',
  // Facts about the machine, which analysts have no use for.
  'hostname',
  'fqdn',
  'uptime',
  'version',
  'buildid',
  'getosinformation',
]);
const FORBIDDEN_FUNCTION_PREFIXES = ['dictget', 'dicthas', 'dictisin'];

function isForbiddenFunction(name: string): boolean {
  const lower = name.toLowerCase();
  return FORBIDDEN_FUNCTIONS.has(lower) || FORBIDDEN_FUNCTION_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** Rejection of an analyst query; the message names what to change. */
export class AnalystQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnalystQueryError';
  }
}

interface Token {
  kind: 'word' | 'quoted_identifier' | 'string' | 'number' | 'symbol';
  /** The text of a word or symbol, or the unquoted content of a quoted identifier. */
  text: string;
  offset: number;
}

function unterminated(what: string, offset: number): AnalystQueryError {
  return new AnalystQueryError(`argument "query" has an unterminated ${what} that starts at character ${offset + 1}: close it`);
}

/** Returns the index after a quoted run that starts at `start` with `quote`; backslash escapes and doubled quotes stay inside. */
function skipQuoted(sql: string, start: number, quote: string, what: string): number {
  let index = start + 1;
  while (index < sql.length) {
    const char = sql[index];
    if (char === '\\') {
      index += 2;
    } else if (char === quote) {
      if (sql[index + 1] === quote) index += 2;
      else return index + 1;
    } else {
      index += 1;
    }
  }
  throw unterminated(what, start);
}

/**
 * Splits SQL into tokens the way ClickHouse's lexer does for what matters
 * here. Comments (`--`, `#` followed by a space or `!`, nested block
 * comments) and strings ('…', heredoc $tag$…$tag$) are skipped, so a
 * semicolon or a keyword inside them is not seen. Quoted identifiers ("…",
 * `…`) become tokens that can name functions.
 */
export function tokenizeSql(sql: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < sql.length) {
    const char = sql[index]!;
    const next = sql[index + 1];
    if (/\s/.test(char)) {
      index += 1;
    } else if ((char === '-' && next === '-') || (char === '#' && (next === ' ' || next === '!'))) {
      const end = sql.indexOf('\n', index);
      index = end === -1 ? sql.length : end + 1;
    } else if (char === '/' && next === '*') {
      let depth = 0;
      const start = index;
      do {
        if (sql.startsWith('/*', index)) {
          depth += 1;
          index += 2;
        } else if (sql.startsWith('*/', index)) {
          depth -= 1;
          index += 2;
        } else if (index >= sql.length) {
          throw unterminated('comment', start);
        } else {
          index += 1;
        }
      } while (depth > 0);
    } else if (char === "'") {
      const end = skipQuoted(sql, index, "'", 'string');
      tokens.push({ kind: 'string', text: sql.slice(index, end), offset: index });
      index = end;
    } else if (char === '"' || char === '`') {
      const end = skipQuoted(sql, index, char, 'quoted identifier');
      const quoted = sql.slice(index + 1, end - 1);
      tokens.push({ kind: 'quoted_identifier', text: quoted.replace(/\\(.)/g, '$1').replaceAll(char + char, char), offset: index });
      index = end;
    } else if (char === '$' && /^\$[A-Za-z0-9_]*\$/.test(sql.slice(index))) {
      const tag = /^\$[A-Za-z0-9_]*\$/.exec(sql.slice(index))![0];
      const end = sql.indexOf(tag, index + tag.length);
      if (end === -1) throw unterminated('heredoc string', index);
      tokens.push({ kind: 'string', text: sql.slice(index, end + tag.length), offset: index });
      index = end + tag.length;
    } else if (/[A-Za-z_]/.test(char)) {
      const match = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(index))!;
      tokens.push({ kind: 'word', text: match[0], offset: index });
      index += match[0].length;
    } else if (/[0-9]/.test(char)) {
      const match = /^[0-9][0-9A-Za-z_.]*/.exec(sql.slice(index))!;
      tokens.push({ kind: 'number', text: match[0], offset: index });
      index += match[0].length;
    } else if (char === '#') {
      throw new AnalystQueryError(`argument "query" has "#" at character ${index + 1}, which ClickHouse reads as a comment only before a space or "!"`);
    } else {
      tokens.push({ kind: 'symbol', text: char, offset: index });
      index += 1;
    }
  }
  return tokens;
}

/**
 * Checks what the text alone shows: one statement, a SELECT, no SETTINGS
 * clause (it could replace the workspace filter), no forbidden function.
 * Returns the query without a trailing semicolon.
 */
export function checkAnalystQueryText(query: string): string {
  if (query.length > MAX_ANALYST_QUERY_LENGTH) {
    throw new AnalystQueryError(`argument "query" has ${query.length} characters, more than the maximum of ${MAX_ANALYST_QUERY_LENGTH}: shorten the query`);
  }
  const tokens = tokenizeSql(query);
  if (tokens.length === 0 || (tokens.length === 1 && tokens[0]!.text === ';')) {
    throw new AnalystQueryError('argument "query" is empty: send one SELECT statement, for example SELECT count() FROM vevee.events');
  }
  const semicolons = tokens.filter((token) => token.kind === 'symbol' && token.text === ';');
  const last = tokens[tokens.length - 1];
  if (semicolons.length > 1 || (semicolons.length === 1 && semicolons[0] !== last)) {
    throw new AnalystQueryError(
      `argument "query" contains a second statement after the ";" at character ${semicolons[0]!.offset + 1}: send one SELECT statement per request`,
    );
  }
  const body = semicolons.length === 1 ? tokens.slice(0, -1) : tokens;
  const first = body.find((token) => token.kind !== 'symbol' || token.text !== '(');
  const keyword = first?.kind === 'word' ? first.text.toUpperCase() : undefined;
  if (keyword !== 'SELECT' && keyword !== 'WITH') {
    throw new AnalystQueryError(
      `argument "query" starts with ${keyword ?? first?.text}, which is not a SELECT: the SQL endpoint is read-only and runs only SELECT (or WITH … SELECT) statements`,
    );
  }

  body.forEach((token, index) => {
    const name = token.text.toLowerCase();
    const previous = body[index - 1];
    // ARRAY JOIN takes an expression, not a table, so range(…) may follow it.
    const arrayJoin = body[index - 2]?.kind === 'word' && body[index - 2]!.text.toLowerCase() === 'array';
    const followsFrom = previous?.kind === 'word' && ['from', 'join'].includes(previous.text.toLowerCase()) && !arrayJoin;
    if (followsFrom && body[index + 1]?.text === '(' && (token.kind === 'word' || token.kind === 'quoted_identifier')) {
      throw new AnalystQueryError(
        `argument "query" reads the table function ${token.text}() at character ${token.offset + 1}, which the SQL endpoint does not allow: read the analytics tables and views, for example FROM vevee.events`,
      );
    }
    const isCall = body[index + 1]?.kind === 'symbol' && body[index + 1]?.text === '(';
    if (token.kind === 'word' && !isCall && (name === 'settings' || name === 'format' || name === 'into')) {
      throw new AnalystQueryError(
        `argument "query" has ${token.text.toUpperCase() === 'INTO' ? 'an' : 'a'} ${token.text.toUpperCase()} clause at character ${token.offset + 1}: the SQL endpoint sets the query's settings and output format itself, so remove it`,
      );
    }
    if (isCall && (token.kind === 'word' || token.kind === 'quoted_identifier')) {
      if (isForbiddenFunction(name)) {
        throw new AnalystQueryError(
          `argument "query" calls ${token.text}() at character ${token.offset + 1}, which reads data outside the analytics tables: the SQL endpoint does not allow it`,
        );
      }
    }
  });

  const end = semicolons.length === 1 ? semicolons[0]!.offset : query.length;
  return query.slice(0, end);
}

function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Wraps the analyst's query so that the SETTINGS clause after it is ours. The newlines end a trailing `--` comment. */
function wrap(query: string): string {
  return `SELECT * FROM (\n${query}\n)`;
}

/**
 * Reads the tables, table functions and functions of the query from its
 * query tree (EXPLAIN QUERY TREE), where CTE names and aliases are already
 * resolved to the tables they stand for, and rejects any outside the allowed
 * list. The check text already rejected the forbidden functions, and this is
 * the second check: the analysis evaluates constant expressions, but its
 * output never reaches the analyst.
 */
async function checkQueryTree(client: ClickHouseClient, database: string, wrapped: string): Promise<void> {
  const result = await client.query({ query: `EXPLAIN QUERY TREE ${wrapped} SETTINGS readonly = 1`, format: 'JSONEachRow' });
  const lines = (await result.json<{ explain: string }>()).map((row) => row.explain);
  // system.one is the one-row table that a SELECT without FROM reads.
  const allowed = new Set([...ANALYST_TABLES.map((table) => `${database}.${table}`), 'system.one']);
  const list = ANALYST_TABLES.map((table) => `${database}.${table}`).join(', ');

  for (const line of lines) {
    const tableFunction = /^\s*TABLE_FUNCTION .*table_function_name: ([^,\s]+)/.exec(line);
    if (tableFunction !== null) {
      throw new AnalystQueryError(
        `argument "query" reads the table function ${tableFunction[1]}(), which the SQL endpoint does not allow: read one of ${list}`,
      );
    }
    const table = /^\s*TABLE .*table_name: ([^,\s]+)/.exec(line);
    if (table !== null && !allowed.has(table[1]!)) {
      throw new AnalystQueryError(`argument "query" reads ${table[1]}, which the SQL endpoint does not allow: read one of ${list}`);
    }
    const call = /^\s*FUNCTION .*function_name: ([^,\s]+)/.exec(line);
    if (call !== null && isForbiddenFunction(call[1]!)) {
      throw new AnalystQueryError(`argument "query" calls ${call[1]}(), which reads data outside the analytics tables: the SQL endpoint does not allow it`);
    }
    if (/^\s{3,}SETTINGS /.test(line)) {
      throw new AnalystQueryError('argument "query" has a SETTINGS clause: the SQL endpoint sets the query\'s settings itself, so remove it');
    }
  }
}

export interface AnalystQueryResult {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  /** True when the query had more than MAX_ANALYST_RESULT_ROWS rows and `rows` contains the first ones. */
  truncated: boolean;
}

/** Returns a short form of a ClickHouse error for the analyst, without our wrapper and settings. */
function analystMessage(error: Error): string {
  const message = error.message.replace(/\s+/g, ' ').trim();
  const cut = message.search(/ SETTINGS readonly|\(in query:/);
  return (cut === -1 ? message : message.slice(0, cut)).slice(0, 500);
}

/**
 * Runs one analyst SELECT read-only over the workspace's rows. Every allowed
 * table and view is filtered to the workspace with `additional_table_filters`,
 * every table is read with FINAL, and the query gets a time and row limit.
 * Throws AnalystQueryError for a query that is not allowed or that ClickHouse
 * rejects.
 *
 * The settings go in the query's own SETTINGS clause and not in
 * `clickhouse_settings`, because the chdb connection sends those as SET
 * statements that stay on its one session, where they would limit every
 * later query of the process.
 */
export function runAnalystQuery(client: ClickHouseClient, database: string, request: { workspaceId: string; query: string }): Promise<AnalystQueryResult> {
  return runChecked(client, database, request);
}

async function runChecked(client: ClickHouseClient, database: string, request: { workspaceId: string; query: string }): Promise<AnalystQueryResult> {
  const db = quoteDatabase(database);
  const wrapped = wrap(checkAnalystQueryText(request.query));
  const workspaceFilter = `workspace_id = ${sqlString(request.workspaceId)}`;
  const filters = ANALYST_TABLES.map((table) => `${sqlString(`${database}.${table}`)}: ${sqlString(workspaceFilter)}`).join(', ');

  try {
    await checkQueryTree(client, database, wrapped);
    const result = await client.query({
      query: `${wrapped}
        SETTINGS readonly = 1, final = 1,
          additional_table_filters = {${filters}},
          max_execution_time = ${MAX_ANALYST_QUERY_SECONDS}, max_memory_usage = ${MAX_ANALYST_QUERY_BYTES},
          max_result_rows = ${MAX_ANALYST_RESULT_ROWS + 1}, result_overflow_mode = 'break'`,
      format: 'JSONCompact',
    });
    const body = await result.json<unknown[]>();
    const { meta, data } = body as unknown as { meta: { name: string; type: string }[]; data: unknown[][] };
    return {
      columns: meta.map((column) => ({ name: column.name, type: column.type })),
      rows: data.slice(0, MAX_ANALYST_RESULT_ROWS),
      truncated: data.length > MAX_ANALYST_RESULT_ROWS,
    };
  } catch (error) {
    if (error instanceof AnalystQueryError) throw error;
    if (error instanceof Error && isClickHouseQueryError(error)) {
      throw new AnalystQueryError(`argument "query" failed in ClickHouse: ${analystMessage(error)}. Tables are named with the database, for example ${db.replace(/`/g, '')}.events`);
    }
    throw error;
  }
}

/**
 * Returns true for errors that ClickHouse raised about the query (syntax,
 * unknown column, time or row limit), as opposed to a failed connection. The
 * class is matched by name, because chdb and @clickhouse/client each bundle a
 * copy of ClickHouseError.
 */
function isClickHouseQueryError(error: Error): boolean {
  return error.constructor.name === 'ClickHouseError';
}
