import { describe, expect, it } from 'vitest';

import { AnalystQueryError, checkAnalystQueryText, tokenizeSql } from '../src/analyst-sql';

describe('analyst SQL text', () => {
  it.each([
    ['SELECT 1', 'SELECT 1'],
    ['SELECT 1;', 'SELECT 1'],
    ['SELECT 1; -- done\n', 'SELECT 1'],
    ["SELECT 'a;b' AS x", "SELECT 'a;b' AS x"],
    ['SELECT $$;DROP$$ AS x', 'SELECT $$;DROP$$ AS x'],
    ['WITH 1 AS x SELECT x', 'WITH 1 AS x SELECT x'],
    ['(SELECT 1)', '(SELECT 1)'],
    ["SELECT format('{}', 1)", "SELECT format('{}', 1)"],
    ['SELECT n FROM t ARRAY JOIN range(3) AS n', 'SELECT n FROM t ARRAY JOIN range(3) AS n'],
    ['SELECT 1 /* ; /* nested ; */ still a comment ; */', 'SELECT 1 /* ; /* nested ; */ still a comment ; */'],
  ])('accepts %j', (query, expected) => {
    expect(checkAnalystQueryText(query)).toBe(expected);
  });

  it.each([
    ['', 'is empty'],
    ['SELECT 1; SELECT 2', 'contains a second statement'],
    ["SELECT 'x' /* ' */; DROP TABLE t", 'contains a second statement'],
    ['INSERT INTO t VALUES (1)', 'starts with INSERT, which is not a SELECT'],
    ['drop table t', 'starts with DROP'],
    ['SYSTEM STOP MERGES', 'starts with SYSTEM'],
    ['-- only a comment', 'is empty'],
    ['SELECT 1 SETTINGS readonly = 0', 'SETTINGS clause'],
    ['SELECT 1 FORMAT CSV', 'FORMAT clause'],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", 'INTO clause'],
    ["SELECT `file`('/etc/hostname')", 'calls file()'],
    ["SELECT dictGet('d', 'a', 1)", 'calls dictGet()'],
    ["SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'a String')", 'table function url()'],
    ['SELECT * FROM t JOIN numbers(3) AS n ON 1', 'table function numbers()'],
    ["SELECT '", 'unterminated string'],
    ['SELECT 1 /* open', 'unterminated comment'],
    ['SELECT 1 #x', '"#"'],
  ])('rejects %j', (query, message) => {
    expect(() => checkAnalystQueryText(query)).toThrow(AnalystQueryError);
    expect(() => checkAnalystQueryText(query)).toThrow(message);
  });

  it('reads quoted identifiers as names', () => {
    const tokens = tokenizeSql('SELECT "a""b", `c\\`d` FROM t');

    expect(tokens.filter((token) => token.kind === 'quoted_identifier').map((token) => token.text)).toEqual(['a"b', 'c`d']);
  });
});
