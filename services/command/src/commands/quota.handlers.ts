import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';

import type { CheckReply, CommitReply, GrantReply, MergeReply, QuotaReply, ReleaseReply, ReserveReply, SubscriptionReply, TrackReply, TransferInReply } from '@vevee/domain';

import { QuotaDecider } from '../decider/quota-decider';
import {
  CheckQuotaCommand,
  CommitQuotaCommand,
  GrantCreditsCommand,
  MergePersonCommand,
  ReleaseQuotaCommand,
  ReserveQuotaCommand,
  TrackUsageCommand,
  TransferUsageCommand,
  UpsertSubscriptionCommand,
} from './quota.commands';

function expectReply<K extends QuotaReply['kind']>(reply: QuotaReply, kind: K): Extract<QuotaReply, { kind: K }> {
  if (reply.kind !== kind) {
    throw new Error(`decider returned a ${reply.kind} reply to a ${kind} command`);
  }
  return reply as Extract<QuotaReply, { kind: K }>;
}

@CommandHandler(ReserveQuotaCommand)
export class ReserveQuotaHandler implements ICommandHandler<ReserveQuotaCommand, ReserveReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: ReserveQuotaCommand): Promise<ReserveReply> {
    return expectReply(await this.decider.submit(command.input), 'reserve');
  }
}

@CommandHandler(CommitQuotaCommand)
export class CommitQuotaHandler implements ICommandHandler<CommitQuotaCommand, CommitReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: CommitQuotaCommand): Promise<CommitReply> {
    return expectReply(await this.decider.submit(command.input), 'commit');
  }
}

@CommandHandler(ReleaseQuotaCommand)
export class ReleaseQuotaHandler implements ICommandHandler<ReleaseQuotaCommand, ReleaseReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: ReleaseQuotaCommand): Promise<ReleaseReply> {
    return expectReply(await this.decider.submit(command.input), 'release');
  }
}

@CommandHandler(TrackUsageCommand)
export class TrackUsageHandler implements ICommandHandler<TrackUsageCommand, TrackReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: TrackUsageCommand): Promise<TrackReply> {
    return expectReply(await this.decider.submit(command.input), 'track');
  }
}

@CommandHandler(CheckQuotaCommand)
export class CheckQuotaHandler implements ICommandHandler<CheckQuotaCommand, CheckReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: CheckQuotaCommand): Promise<CheckReply> {
    return expectReply(await this.decider.submit(command.input), 'check');
  }
}

@CommandHandler(UpsertSubscriptionCommand)
export class UpsertSubscriptionHandler implements ICommandHandler<UpsertSubscriptionCommand, SubscriptionReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: UpsertSubscriptionCommand): Promise<SubscriptionReply> {
    return expectReply(await this.decider.submit(command.input), 'upsertSubscription');
  }
}

@CommandHandler(GrantCreditsCommand)
export class GrantCreditsHandler implements ICommandHandler<GrantCreditsCommand, GrantReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: GrantCreditsCommand): Promise<GrantReply> {
    return expectReply(await this.decider.submit(command.input), 'grantCredits');
  }
}

@CommandHandler(MergePersonCommand)
export class MergePersonHandler implements ICommandHandler<MergePersonCommand, MergeReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: MergePersonCommand): Promise<MergeReply> {
    return expectReply(await this.decider.submit(command.input), 'mergeInto');
  }
}

@CommandHandler(TransferUsageCommand)
export class TransferUsageHandler implements ICommandHandler<TransferUsageCommand, TransferInReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute(command: TransferUsageCommand): Promise<TransferInReply> {
    return expectReply(await this.decider.submit(command.input), 'transferIn');
  }
}

export const QUOTA_HANDLERS = [
  MergePersonHandler,
  TransferUsageHandler,
  ReserveQuotaHandler,
  CommitQuotaHandler,
  ReleaseQuotaHandler,
  TrackUsageHandler,
  CheckQuotaHandler,
  UpsertSubscriptionHandler,
  GrantCreditsHandler,
];
