export * from './clickhouse.module';
export * from './identifiers';
export * from './schema';
export * from './event-rows';
export * from './queries';
export * from './analytics-schema';
export * from './analytics-queries';
export * from './analyst-sql';
