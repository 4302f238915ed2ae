export * from './commands';
export * from './decide';
export * from './errors';
export * from './fold';
export * from './plan';
export * from './state';
export * from './windows';
export * from './snapshot';
