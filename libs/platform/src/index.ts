export * from './config';
export * from './logger';
export * from './tokens';
export * from './platform.module';
export * from './http';
