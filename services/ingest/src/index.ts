export * from './ingest.module';
export * from './ingest-sink';
export * from './ingest-http';
export * from './ingest-record';
export * from './ingest-topics';
export * from './dead-letters';
export * from './sink-batch';
