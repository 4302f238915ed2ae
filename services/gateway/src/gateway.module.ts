import { ApolloArmor } from '@escape.tech/graphql-armor';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import type { Registry } from 'prom-client';

import { KafkaModule } from '@vevee/kafka';
import { LOGGER, METRICS, type Logger } from '@vevee/platform';

import { SqlValueScalar } from './analytics-arguments';
import { AnalyticsQueryResolver, UsageSummaryActivityResolver } from './analytics.resolver';
import { analyticsTypeDefs } from './analytics.schema';
import { ApiKeyMiddleware, type AuthenticatedRequest, type GatewayContext } from './auth';
import { CatalogPublisher } from './catalog-publisher';
import { CatalogResolver } from './catalog.resolver';
import { catalogEnumResolvers, catalogTypeDefs } from './catalog.schema';
import { DateTimeScalar } from './date-time.scalar';
import { createErrorFormatter, graphqlErrorsCounter } from './error-mapping';
import { PERSON_ACCOUNT_PROVIDERS } from './person-account.resolver';
import { personAccountEnumResolvers, personAccountTypeDefs } from './person-account.schema';
import { PersonResolver } from './person.resolver';
import { PersonUsageReader } from './person-usage.reader';
import { QueryResolver } from './query.resolver';
import { typeDefs } from './schema';

/** URL path of the GraphQL endpoint. startHttpApp parses JSON bodies on this path. */
export const GRAPHQL_PATH = '/graphql';

function contextOf({ req }: { req: AuthenticatedRequest }): GatewayContext {
  if (req.workspace === undefined) {
    throw new Error('the GraphQL request reached Apollo without passing ApiKeyMiddleware');
  }
  return { workspace: req.workspace };
}

/**
 * Limits on the shape of one GraphQL request, so that one API key cannot make
 * the gateway do unbounded work: nesting depth, aliases (each alias runs its
 * field again), estimated cost and tokens. The deepest query in the docs has a
 * depth of 5. Field suggestions stay on, because the schema is public.
 */
const armor = new ApolloArmor({
  maxDepth: { n: 10 },
  maxAliases: { n: 20 },
  costLimit: { maxCost: 5_000 },
  maxTokens: { n: 2_000 },
  blockFieldSuggestion: { enabled: false },
}).protect();

function apolloOptions(logger: Logger, registry: Registry): ApolloDriverConfig {
  return {
    driver: ApolloDriver,
    plugins: armor.plugins,
    validationRules: armor.validationRules,
    allowBatchedHttpRequests: false,
    path: GRAPHQL_PATH,
    typeDefs: [typeDefs, analyticsTypeDefs, catalogTypeDefs, personAccountTypeDefs],
    resolvers: {
      DateTime: DateTimeScalar,
      SqlValue: SqlValueScalar,
      // Resolvers receive and return periods as the ledger spells them: `day` and `month`.
      Period: { DAY: 'day', MONTH: 'month' },
      ...catalogEnumResolvers,
      ...personAccountEnumResolvers,
    },
    context: contextOf,
    formatError: createErrorFormatter(logger, graphqlErrorsCounter(registry)),
    includeStacktraceInErrorResponses: false,
    introspection: true,
    // The GraphiQL page would load its scripts from a CDN, and every request
    // needs an API key header that the page cannot add by itself.
    graphiql: false,
  };
}

/**
 * The GraphQL API of the dashboard at `/graphql`, served on the HTTP server
 * of startHttpApp. Every request needs `Authorization: Bearer <api key>`, and
 * the key's workspace scopes every query. Needs PostgresModule and
 * ClickHouseModule in the same application.
 */
@Module({
  imports: [
    KafkaModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [LOGGER, METRICS],
      useFactory: apolloOptions,
    }),
  ],
  providers: [PersonUsageReader, QueryResolver, PersonResolver, AnalyticsQueryResolver, UsageSummaryActivityResolver, CatalogPublisher, CatalogResolver, ...PERSON_ACCOUNT_PROVIDERS],
})
export class GatewayModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ApiKeyMiddleware).forRoutes(GRAPHQL_PATH);
  }
}
