import { Command } from '@nestjs/cqrs';

import type { QuotaCommand, QuotaReply } from '@vevee/domain';

/** The decider's reply to command C; each reply has the kind of its command. */
export type ReplyTo<C extends QuotaCommand> = Extract<QuotaReply, { kind: C['kind'] }>;

/**
 * A command for the decider of one person, typed with its reply, for example
 * `new DecideCommand({ kind: 'reserve', ... })` resolves to a ReserveReply.
 */
export class DecideCommand<C extends QuotaCommand> extends Command<ReplyTo<C>> {
  constructor(readonly input: C) {
    super();
  }
}
