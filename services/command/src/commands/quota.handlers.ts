import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';

import type { CommitReply, QuotaReply, ReleaseReply, ReserveReply, TrackReply } from '@vevee/domain';

import { QuotaDecider } from '../decider/quota-decider';
import { CommitQuotaCommand, ReleaseQuotaCommand, ReserveQuotaCommand, TrackUsageCommand } from './quota.commands';

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

export const QUOTA_HANDLERS = [ReserveQuotaHandler, CommitQuotaHandler, ReleaseQuotaHandler, TrackUsageHandler];
