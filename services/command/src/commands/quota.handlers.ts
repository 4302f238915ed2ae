import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';

import type { QuotaCommand, QuotaReply } from '@vevee/domain';

import { QuotaDecider } from '../decider/quota-decider';
import { DecideCommand } from './quota.commands';

/** Hands each command to the person's decider and checks that the reply has the command's kind. */
@CommandHandler(DecideCommand)
export class DecideCommandHandler implements ICommandHandler<DecideCommand<QuotaCommand>, QuotaReply> {
  constructor(@Inject(QuotaDecider) private readonly decider: QuotaDecider) {}

  async execute({ input }: DecideCommand<QuotaCommand>): Promise<QuotaReply> {
    const reply = await this.decider.submit(input);
    if (reply.kind !== input.kind) {
      throw new Error(`decider returned a ${reply.kind} reply to a ${input.kind} command`);
    }
    return reply;
  }
}

export const QUOTA_HANDLERS = [DecideCommandHandler];
