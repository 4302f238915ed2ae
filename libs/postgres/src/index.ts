export * from './postgres.module';
export * from './migrate';
export * from './transaction';
export * from './seed-validation';
export * from './seed';
export * from './workspaces';
export * from './catalog-validation';
export * from './catalog';
