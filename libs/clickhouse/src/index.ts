export * from './clickhouse.module';
