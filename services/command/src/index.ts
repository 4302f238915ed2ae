export * from './command.module';
export * from './decider/quota-decider';
export * from './workspaces';
export * from './commands/quota.commands';
export * from './errors';
