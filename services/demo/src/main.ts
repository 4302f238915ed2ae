/**
 * Command-line entry of the demo: replays the Azure LLM inference trace against a
 * running Vevee. Run with `npx tsx services/demo/src/main.ts`.
 *
 * Environment:
 * - VEVEE_API_KEY (required): an API key of the demo workspace.
 * - VEVEE_URL: base URL of Vevee, default http://127.0.0.1:4000.
 * - VEVEE_GRAPHQL_URL: GraphQL endpoint, default VEVEE_URL + /graphql.
 * - DEMO_REQUESTS: trace requests to replay, from the first, default 3000.
 * - DEMO_SPEEDUP: replay pace relative to the trace, default 30.
 * - DEMO_PERSON_PREFIX: prefix of person ids, default `user-`.
 * - KAFKA_BROKERS: the Kafka of the running Vevee, for the ingest batch, default 127.0.0.1:19092.
 * - VEVEE_NAMESPACE: the topic namespace of the running Vevee, default none.
 * - DEMO_WORKSPACE: the workspace of VEVEE_API_KEY, default `demo`.
 */
import { DEFAULT_REQUESTS, DEFAULT_SPEEDUP, runDemo, type RunDemoOptions } from './run-demo';

/** Reads the demo options from the environment, or returns every invalid variable. */
function readOptions(env: NodeJS.ProcessEnv): { options: Omit<RunDemoOptions, 'log'> } | { problems: string[] } {
  const problems: string[] = [];

  const apiKey = env.VEVEE_API_KEY ?? '';
  if (apiKey === '') problems.push('VEVEE_API_KEY is missing; set it to an API key of the demo workspace');

  const baseUrl = env.VEVEE_URL ?? 'http://127.0.0.1:4000';
  let graphqlUrl = env.VEVEE_GRAPHQL_URL ?? '';
  try {
    if (graphqlUrl === '') graphqlUrl = new URL('/graphql', baseUrl).toString();
  } catch {
    problems.push(`VEVEE_URL ${JSON.stringify(baseUrl)} is not a valid URL; set it like http://127.0.0.1:4000`);
  }

  const requests = Number(env.DEMO_REQUESTS ?? DEFAULT_REQUESTS);
  if (!Number.isInteger(requests) || requests < 1) {
    problems.push(`DEMO_REQUESTS ${JSON.stringify(env.DEMO_REQUESTS)} is invalid; set a positive integer number of requests`);
  }
  const speedup = Number(env.DEMO_SPEEDUP ?? DEFAULT_SPEEDUP);
  if (!(Number.isFinite(speedup) && speedup > 0)) {
    problems.push(`DEMO_SPEEDUP ${JSON.stringify(env.DEMO_SPEEDUP)} is invalid; set a positive number such as 30`);
  }

  const kafkaBrokers = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',').map((broker) => broker.trim());
  if (kafkaBrokers.some((broker) => !/^[^\s:]+:\d+$/.test(broker))) {
    problems.push(`KAFKA_BROKERS ${JSON.stringify(env.KAFKA_BROKERS)} is invalid; set comma-separated host:port pairs such as 127.0.0.1:19092`);
  }

  if (problems.length > 0) return { problems };
  return {
    options: {
      apiKey,
      baseUrl,
      graphqlUrl,
      requests,
      speedup,
      ...(env.DEMO_PERSON_PREFIX === undefined ? {} : { personPrefix: env.DEMO_PERSON_PREFIX }),
      kafkaBrokers,
      namespace: env.VEVEE_NAMESPACE ?? '',
      workspaceId: env.DEMO_WORKSPACE ?? 'demo',
    },
  };
}

/** Returns the error's message, or its stack for a TypeError or ReferenceError, which point to a bug in the demo. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof TypeError || error instanceof ReferenceError) return error.stack ?? error.message;
  return error.message;
}

const parsed = readOptions(process.env);
if ('problems' in parsed) {
  process.stderr.write(`invalid demo environment:\n- ${parsed.problems.join('\n- ')}\n`);
  process.exitCode = 2;
} else {
  try {
    await runDemo({ ...parsed.options, log: (line) => process.stdout.write(`${line}\n`) });
  } catch (error) {
    process.stderr.write(`demo failed: ${describeError(error)}\n`);
    process.exitCode = 1;
  }
}
