import { Inject } from '@nestjs/common';
import { Args, Context, Parent, ResolveField, Resolver } from '@nestjs/graphql';

import type { Period } from '@vevee/contracts';

import type { GatewayContext } from './auth';
import { PersonUsageReader, type MeterUsage } from './person-usage.reader';
import type { PersonRef } from './query.resolver';

@Resolver('Person')
export class PersonResolver {
  constructor(@Inject(PersonUsageReader) private readonly usageReader: PersonUsageReader) {}

  @ResolveField('mergedInto')
  async mergedInto(@Parent() person: PersonRef, @Context() context: GatewayContext): Promise<string | null> {
    return this.usageReader.mergedInto(context.workspace, person.id);
  }

  /** The Period enum's values arrive as the internal values `day` and `month`, mapped in the module. */
  @ResolveField('usage')
  usage(
    @Parent() person: PersonRef,
    @Args('meter') meter: string,
    @Args('period') period: Period | null | undefined,
    @Context() context: GatewayContext,
  ): Promise<MeterUsage[]> {
    return this.usageReader.read(context.workspace, {
      personId: person.id,
      meter,
      period: period ?? undefined,
      now: Date.now(),
    });
  }
}
