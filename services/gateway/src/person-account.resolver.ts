import { Inject } from '@nestjs/common';
import { Args, Context, Parent, ResolveField, Resolver } from '@nestjs/graphql';

import type { GatewayContext } from './auth';
import {
  PersonAccountReader,
  type CreditBalanceView,
  type CreditEntryView,
  type LimitUsageView,
  type Page,
  type SubscriptionChangeView,
  type SubscriptionView,
} from './person-account.reader';
import type { PersonRef } from './query.resolver';

/** The parent of PersonCredits' fields. */
interface CreditsRef {
  personId: string;
}

@Resolver('Person')
export class PersonAccountResolver {
  constructor(@Inject(PersonAccountReader) private readonly reader: PersonAccountReader) {}

  @ResolveField('subscription')
  subscription(@Parent() person: PersonRef, @Context() context: GatewayContext): Promise<SubscriptionView> {
    return this.reader.subscription(context.workspace, person.id, Date.now());
  }

  @ResolveField('credits')
  credits(@Parent() person: PersonRef): CreditsRef {
    return { personId: person.id };
  }

  @ResolveField('limits')
  limits(@Parent() person: PersonRef, @Args('meter') meter: string | null | undefined, @Context() context: GatewayContext): Promise<LimitUsageView[]> {
    return this.reader.limits(context.workspace, person.id, meter, Date.now());
  }
}

@Resolver('PersonSubscription')
export class PersonSubscriptionResolver {
  constructor(@Inject(PersonAccountReader) private readonly reader: PersonAccountReader) {}

  @ResolveField('history')
  history(
    @Parent() subscription: SubscriptionView,
    @Args('first') first: number | null | undefined,
    @Args('after') after: string | null | undefined,
    @Context() context: GatewayContext,
  ): Promise<Page<SubscriptionChangeView>> {
    return this.reader.subscriptionHistory(context.workspace, subscription.personId, first, after);
  }
}

@Resolver('PersonCredits')
export class PersonCreditsResolver {
  constructor(@Inject(PersonAccountReader) private readonly reader: PersonAccountReader) {}

  @ResolveField('balances')
  balances(@Parent() credits: CreditsRef, @Args('meter') meter: string | null | undefined, @Context() context: GatewayContext): Promise<CreditBalanceView[]> {
    return this.reader.creditBalances(context.workspace, credits.personId, meter, Date.now());
  }

  @ResolveField('entries')
  entries(
    @Parent() credits: CreditsRef,
    @Args('first') first: number | null | undefined,
    @Args('after') after: string | null | undefined,
    @Context() context: GatewayContext,
  ): Promise<Page<CreditEntryView>> {
    return this.reader.creditEntries(context.workspace, credits.personId, first, after);
  }
}

/** The providers of the Person fields subscription, credits and limits. */
export const PERSON_ACCOUNT_PROVIDERS = [PersonAccountReader, PersonAccountResolver, PersonSubscriptionResolver, PersonCreditsResolver];
