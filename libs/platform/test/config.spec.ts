import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../src';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('defaults › gives the local stack settings', () => {
    const config = loadConfig({});
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:19092']);
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/vevee');
    expect(config.clickhouseUrl).toBeUndefined();
    expect(config.httpPort).toBe(4000);
    expect(config.ledgerPartitions).toBe(12);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reports › every invalid variable at once', () => {
    const problems = problemsOf({
      KAFKA_BROKERS: 'localhost',
      HTTP_PORT: 'eighty',
      DATABASE_URL: 'mysql://x',
      LOG_LEVEL: 'loud',
      LEDGER_PARTITIONS: '0',
      COMMAND_SESSION_TIMEOUT_MS: '10',
    });
    expect(problems).toHaveLength(6);
    expect(problems.find((problem) => problem.startsWith('KAFKA_BROKERS'))).toContain('host:port');
    expect(problems.find((problem) => problem.startsWith('HTTP_PORT'))).toContain('integer from 0 to 65535');
    expect(problems.find((problem) => problem.startsWith('DATABASE_URL'))).toContain('postgres://');
    expect(problems.find((problem) => problem.startsWith('LOG_LEVEL'))).toContain('info');
    expect(problems.find((problem) => problem.startsWith('LEDGER_PARTITIONS'))).toContain('from 1');
    expect(problems.find((problem) => problem.startsWith('COMMAND_SESSION_TIMEOUT_MS'))).toContain('from 6000');
  });

  it('message › lists each problem on its own line', () => {
    let message = '';
    try {
      loadConfig({ HTTP_PORT: '-1', VEVEE_NAMESPACE: 'a b' });
    } catch (error) {
      message = (error as Error).message;
    }
    const lines = message.split('\n');
    expect(lines[0]).toBe('invalid configuration:');
    expect(lines.some((line) => line.startsWith('  - HTTP_PORT="-1"'))).toBe(true);
    expect(lines.some((line) => line.startsWith('  - VEVEE_NAMESPACE="a b"'))).toBe(true);
  });
});
