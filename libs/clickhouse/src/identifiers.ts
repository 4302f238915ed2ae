const IDENTIFIER = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Returns a database name quoted for SQL. Identifiers cannot be query
 * parameters, so the name is checked against a strict pattern before it is
 * put into a statement.
 */
export function quoteDatabase(database: string): string {
  if (!IDENTIFIER.test(database)) {
    throw new Error(
      `ClickHouse database name "${database}" is invalid: use letters, digits and '_', starting with a letter or '_' (set CLICKHOUSE_DATABASE)`,
    );
  }
  return `\`${database}\``;
}
