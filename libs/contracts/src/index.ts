export * from './topics';
export * from './events';
export * from './errors';
export * from './gen/vevee/v1/quota_pb';
