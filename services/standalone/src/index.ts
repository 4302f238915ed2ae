export * from './app.module';
export * from './start';
