export * from './projector-clickhouse.module';
export * from './clickhouse-projector';
export * from './decode-batch';
