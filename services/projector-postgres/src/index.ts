export * from './projector-postgres.module';
export * from './postgres-projector';
export * from './progress';
export * from './project-batch';
