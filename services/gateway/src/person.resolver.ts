import { Inject } from '@nestjs/common';
import { Args, Context, Parent, ResolveField, Resolver } from '@nestjs/graphql';

import type { Period } from '@vevee/contracts';

import type { GatewayContext } from './auth';
import { PersonAccountReader } from './person-account.reader';
import { PersonUsageReader, type MeterUsage } from './person-usage.reader';
import type { PersonRef } from './query.resolver';

@Resolver('Person')
export class PersonResolver {
  constructor(
    @Inject(PersonUsageReader) private readonly usageReader: PersonUsageReader,
    @Inject(PersonAccountReader) private readonly accountReader: PersonAccountReader,
  ) {}

  @ResolveField('mergedInto')
  async mergedInto(@Parent() person: PersonRef, @Context() context: GatewayContext): Promise<string | null> {
    return this.usageReader.mergedInto(context.workspace, person.id);
  }

  /** The Period enum's values arrive as the internal values `day` and `month`, mapped in the module. */
  @ResolveField('usage')
  async usage(
    @Parent() person: PersonRef,
    @Args('meter') meter: string,
    @Args('period') period: Period | null | undefined,
    @Context() context: GatewayContext,
  ): Promise<MeterUsage[]> {
    const now = Date.now();
    // The person's plan now, as the decider applies it. A period's limit is the
    // smallest of its calendar limits on the meter; anchored ones have other windows.
    const limits: Partial<Record<Period, number>> = {};
    for (const limit of await this.accountReader.limits(context.workspace, person.id, meter, now)) {
      if (limit.window !== 'calendar') continue;
      limits[limit.period] = Math.min(limits[limit.period] ?? Infinity, limit.amount);
    }
    return this.usageReader.read(context.workspace, { personId: person.id, meter, period: period ?? undefined, now }, limits);
  }
}
