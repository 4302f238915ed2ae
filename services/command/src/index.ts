export * from './command.module';
export * from './decider/quota-decider';
export * from './workspaces';
