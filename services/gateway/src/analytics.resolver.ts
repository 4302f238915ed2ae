import type { ClickHouseClient } from '@clickhouse/client';
import { Inject } from '@nestjs/common';
import { Args, Context, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';

import {
  AnalystQueryError,
  CLICKHOUSE,
  activePersons,
  dailyActivePersons,
  eventSeries,
  funnel,
  listPeople,
  personTimeline,
  runAnalystQuery,
  type ActivePersons,
  type AnalystQueryResult,
  type DailyActive,
  type EventNameSeries,
  type FunnelStep,
  type PeoplePage,
  type Timeline,
} from '@vevee/clickhouse';
import type { Period } from '@vevee/contracts';
import { windowFor } from '@vevee/domain';
import { CONFIG, type VeveeConfig } from '@vevee/platform';

import {
  MAX_PEOPLE_LIMIT,
  MAX_TIMELINE_LIMIT,
  checkBreakdownKeys,
  checkFunnel,
  checkOptionalRange,
  checkPage,
  checkPersonId,
  checkSearch,
  toPropertyFilters,
  toSortField,
  type PropertyFilterInput,
} from './analytics-arguments';
import type { GatewayContext } from './auth';
import { badUserInput } from './errors';
import { validateSummaryRange } from './summary-range';

/** Defaults repeat the schema's, for resolvers called with an argument left out. */
interface PeopleArguments {
  filters?: PropertyFilterInput[] | null;
  search?: string | null;
  sortBy?: string;
  order?: string;
  limit?: number;
  offset?: number;
  breakdownKeys?: string[] | null;
}

@Resolver('Query')
export class AnalyticsQueryResolver {
  constructor(
    @Inject(CLICKHOUSE) private readonly clickhouse: ClickHouseClient,
    @Inject(CONFIG) private readonly config: VeveeConfig,
  ) {}

  /** The Period enum arrives as `day` or `month`, mapped in the module. */
  @Query('eventSeries')
  async eventSeries(
    @Args('period') period: Period | null | undefined,
    @Context() context: GatewayContext,
  ): Promise<{ period: Period; from: Date; to: Date; series: EventNameSeries[] }> {
    const chosen = period ?? 'month';
    const { timeZone, workspaceId } = context.workspace;
    const window = windowFor(chosen, Date.now(), timeZone);
    const from = new Date(window.start);
    const to = new Date(window.end);
    const series = await eventSeries(this.clickhouse, this.config.clickhouseDatabase, {
      workspaceId,
      from,
      to,
      timeZone,
      bucket: chosen === 'day' ? 'hour' : 'day',
    });
    return { period: chosen, from, to, series };
  }

  @Query('people')
  async people(@Args() args: PeopleArguments, @Context() context: GatewayContext): Promise<PeoplePage & { limit: number; offset: number }> {
    const limit = args.limit ?? 50;
    const offset = args.offset ?? 0;
    checkPage('limit', limit, MAX_PEOPLE_LIMIT, offset);
    const request = {
      workspaceId: context.workspace.workspaceId,
      filters: toPropertyFilters(args.filters),
      search: checkSearch(args.search),
      sortBy: toSortField(args.sortBy ?? 'LAST_SEEN'),
      descending: (args.order ?? 'DESC') === 'DESC',
      limit,
      offset,
      breakdownKeys: checkBreakdownKeys(args.breakdownKeys),
    };
    const page = await listPeople(this.clickhouse, this.config.clickhouseDatabase, request);
    return { ...page, limit, offset };
  }

  @Query('personTimeline')
  async personTimeline(
    @Args('id') id: string,
    @Args('from') from: Date | null | undefined,
    @Args('to') to: Date | null | undefined,
    @Args('order') order: string | null | undefined,
    @Args('limit') limit: number | null | undefined,
    @Args('offset') offset: number | null | undefined,
    @Context() context: GatewayContext,
  ): Promise<Timeline> {
    checkPersonId('id', id);
    checkPage('limit', limit ?? 100, MAX_TIMELINE_LIMIT, offset ?? 0);
    checkOptionalRange(from ?? undefined, to ?? undefined);
    return personTimeline(this.clickhouse, this.config.clickhouseDatabase, {
      workspaceId: context.workspace.workspaceId,
      personId: id,
      from: from ?? undefined,
      to: to ?? undefined,
      descending: (order ?? 'DESC') === 'DESC',
      limit: limit ?? 100,
      offset: offset ?? 0,
    });
  }

  @Query('funnel')
  async funnel(
    @Args('steps') steps: string[],
    @Args('windowSeconds') windowSeconds: number,
    @Args('from') from: Date,
    @Args('to') to: Date,
    @Context() context: GatewayContext,
  ): Promise<{ from: Date; to: Date; windowSeconds: number; steps: FunnelStep[] }> {
    checkFunnel(steps, windowSeconds);
    validateSummaryRange(from, to);
    const result = await funnel(this.clickhouse, this.config.clickhouseDatabase, {
      workspaceId: context.workspace.workspaceId,
      from,
      to,
      steps,
      windowMs: windowSeconds * 1000,
    });
    return { from, to, windowSeconds, steps: result };
  }

  @Query('sql')
  async sql(@Args('query') query: string, @Context() context: GatewayContext): Promise<AnalystQueryResult> {
    try {
      return await runAnalystQuery(this.clickhouse, this.config.clickhouseDatabase, { workspaceId: context.workspace.workspaceId, query });
    } catch (error) {
      if (error instanceof AnalystQueryError) throw badUserInput('query', error.message);
      throw error;
    }
  }
}

/** The parent of UsageSummary's field resolvers, as QueryResolver.usageSummary returns it. */
interface SummaryRef {
  from: Date;
  to: Date;
}

@Resolver('UsageSummary')
export class UsageSummaryActivityResolver {
  constructor(
    @Inject(CLICKHOUSE) private readonly clickhouse: ClickHouseClient,
    @Inject(CONFIG) private readonly config: VeveeConfig,
  ) {}

  @ResolveField('active')
  active(@Parent() summary: SummaryRef, @Context() context: GatewayContext): Promise<ActivePersons> {
    return activePersons(this.clickhouse, this.config.clickhouseDatabase, { workspaceId: context.workspace.workspaceId, to: summary.to });
  }

  @ResolveField('dailyActive')
  dailyActive(@Parent() summary: SummaryRef, @Context() context: GatewayContext): Promise<DailyActive[]> {
    return dailyActivePersons(this.clickhouse, this.config.clickhouseDatabase, {
      workspaceId: context.workspace.workspaceId,
      timeZone: context.workspace.timeZone,
      from: summary.from,
      to: summary.to,
    });
  }
}

