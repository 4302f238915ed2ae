export * from './gateway.module';
export * from './schema';
export * from './errors';
export * from './date-time.scalar';
export * from './summary-range';
export * from './catalog-publisher';
