import { Inject, type Type } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';

import type { QuotaCommand, QuotaReply } from '@vevee/domain';

import { QuotaDecider } from '../decider/quota-decider';
import {
  CheckQuotaCommand,
  CommitQuotaCommand,
  GrantCreditsCommand,
  MergePersonCommand,
  ReleaseQuotaCommand,
  ReserveQuotaCommand,
  ResolvePersonCommand,
  TrackUsageCommand,
  TransferUsageCommand,
  UpsertSubscriptionCommand,
} from './quota.commands';

type ReplyOf<K extends QuotaReply['kind']> = Extract<QuotaReply, { kind: K }>;

/**
 * Returns a CQRS handler class that hands a command's input to the person's
 * decider and checks that the reply is of the kind the command expects.
 */
function deciderHandler<K extends QuotaReply['kind']>(command: Type<{ input: QuotaCommand }>, kind: K): Type<ICommandHandler> {
  @CommandHandler(command)
  class DeciderHandler implements ICommandHandler<{ input: QuotaCommand }, ReplyOf<K>> {
    constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

    async execute({ input }: { input: QuotaCommand }): Promise<ReplyOf<K>> {
      const reply = await this.decider.submit(input);
      if (reply.kind !== kind) {
        throw new Error(`decider returned a ${reply.kind} reply to a ${kind} command`);
      }
      return reply as ReplyOf<K>;
    }
  }
  Object.defineProperty(DeciderHandler, 'name', { value: `${command.name}Handler` });
  return DeciderHandler;
}

export const QUOTA_HANDLERS = [
  deciderHandler(ReserveQuotaCommand, 'reserve'),
  deciderHandler(CommitQuotaCommand, 'commit'),
  deciderHandler(ReleaseQuotaCommand, 'release'),
  deciderHandler(TrackUsageCommand, 'track'),
  deciderHandler(CheckQuotaCommand, 'check'),
  deciderHandler(UpsertSubscriptionCommand, 'upsertSubscription'),
  deciderHandler(GrantCreditsCommand, 'grantCredits'),
  deciderHandler(MergePersonCommand, 'mergeInto'),
  deciderHandler(ResolvePersonCommand, 'resolve'),
  deciderHandler(TransferUsageCommand, 'transferIn'),
];
