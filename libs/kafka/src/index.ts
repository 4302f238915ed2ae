export * from './kafka';
export * from './kafka.module';
