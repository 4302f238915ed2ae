export * from './clickhouse.module';
export * from './identifiers';
export * from './schema';
export * from './event-rows';
export * from './queries';
