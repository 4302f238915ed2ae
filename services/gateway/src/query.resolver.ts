import type { ClickHouseClient } from '@clickhouse/client';
import { Inject } from '@nestjs/common';
import { Args, Context, Query, Resolver } from '@nestjs/graphql';

import { CLICKHOUSE, usageSummary, type UsageSummary } from '@vevee/clickhouse';
import { CONFIG, type VeveeConfig } from '@vevee/platform';

import type { GatewayContext } from './auth';
import { badUserInput } from './errors';
import { validateSummaryRange } from './summary-range';

/** The parent value of the Person type's field resolvers. */
export interface PersonRef {
  id: string;
}

/** Person ids follow the RPC API's rule: 1 to 256 characters, no control characters. */
const PERSON_ID = /^[^\p{Cc}]{1,256}$/u;

@Resolver('Query')
export class QueryResolver {
  constructor(
    @Inject(CLICKHOUSE) private readonly clickhouse: ClickHouseClient,
    @Inject(CONFIG) private readonly config: VeveeConfig,
  ) {}

  @Query('person')
  person(@Args('id') id: string): PersonRef {
    if (!PERSON_ID.test(id)) {
      throw badUserInput('id', 'argument "id" is invalid: send the person id that the app passes to reserve and track, 1 to 256 characters without control characters');
    }
    return { id };
  }

  @Query('usageSummary')
  async usageSummary(
    @Args('from') from: Date,
    @Args('to') to: Date,
    @Context() context: GatewayContext,
  ): Promise<UsageSummary & { from: Date; to: Date }> {
    validateSummaryRange(from, to);

    const summary = await usageSummary(this.clickhouse, this.config.clickhouseDatabase, {
      workspaceId: context.workspace.workspaceId,
      from,
      to,
    });
    return { from, to, ...summary };
  }
}
