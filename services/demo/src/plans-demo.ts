import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

import type { CheckResult, ReserveResult, Vevee } from '@vevee/sdk';

import { formatCount } from './report';

/**
 * The plans of the demo workspace that this walk-through relies on. The seed
 * file defines them; the numbers here only label the output.
 */
export const DEMO_PLANS = {
  free: { id: 'free', tokensPerDay: 150_000 },
  pro: { id: 'pro', tokensPerMinute: 20_000, tokensPerMonth: 1_200_000 },
} as const;

export interface PlansDemoOptions {
  client: Vevee;
  /** URL of the GraphQL endpoint, and the API key it takes. */
  graphqlUrl: string;
  apiKey: string;
  log: (line: string) => void;
  /** The person the walk-through uses; a new id starts from empty counters. */
  personId: string;
}

export interface PlansDemoResult {
  /** Each step's name and whether its reserve or check was allowed, in order. */
  steps: Array<{ step: string; allowed: boolean; creditQuantity: number }>;
  creditBalance: number;
}

function describe(result: CheckResult | ReserveResult): string {
  const verdict = result.allowed ? 'allowed' : `denied (${result.reason})`;
  const credits = result.creditQuantity > 0 ? `, ${formatCount(result.creditQuantity)} paid by credits` : '';
  return `${verdict} by the ${result.period} limit of ${formatCount(result.limit)}: ${formatCount(result.remaining)} left${credits}`;
}

/**
 * Walks one person through the plan features: the free plan's daily cap, an
 * upgrade to the pro plan from a billing webhook (delivered twice), the pro
 * plan's two token limits (per minute and per month), and a credit top-up
 * that pays for usage once the monthly allowance is spent.
 */
export async function runPlansDemo(options: PlansDemoOptions): Promise<PlansDemoResult> {
  const { client, log, personId } = options;
  const steps: PlansDemoResult['steps'] = [];
  const reserve = async (step: string, quantity: number): Promise<ReserveResult> => {
    const result = await client.reserve({ personId, meter: 'tokens', quantity });
    steps.push({ step, allowed: result.allowed, creditQuantity: result.creditQuantity });
    log(`  ${step}: reserve ${formatCount(quantity)} tokens -> ${describe(result)}`);
    if (result.allowed) await client.commit({ reservationId: result.reservationId, quantity, cost: 0 });
    return result;
  };

  log(`plans, subscriptions and credits, for person ${personId}:`);
  const batch = DEMO_PLANS.pro.tokensPerMonth - 5_000;
  await client.track({ personId, eventType: 'batch.job', meter: 'tokens', quantity: batch });
  log(
    `  on the default plan "${DEMO_PLANS.free.id}" (${formatCount(DEMO_PLANS.free.tokensPerDay)} tokens per day), a batch job tracked ${formatCount(batch)} tokens (track records usage past a limit; only reserve denies)`,
  );
  await reserve('free plan, past the daily cap', 10_000);

  const webhook = {
    personId,
    planId: DEMO_PLANS.pro.id,
    status: 'active',
    source: 'billing-demo',
    externalId: `evt_${randomUUID()}`,
    occurredAt: new Date(),
    reason: 'customer upgraded in the billing portal',
  };
  const upgrade = await client.upsertSubscription(webhook);
  const repeated = await client.upsertSubscription(webhook);
  log(`  billing webhook: subscription to "${DEMO_PLANS.pro.id}" -> ${upgrade.outcome}; the same webhook again -> ${repeated.outcome}`);
  log(
    `  plan "${DEMO_PLANS.pro.id}" has two token limits: ${formatCount(DEMO_PLANS.pro.tokensPerMinute)} per minute, and ${formatCount(DEMO_PLANS.pro.tokensPerMonth)} per month with credits paying above it`,
  );
  await reserve('pro plan, above the minute limit', 25_000);
  // Its denial consumed nothing, so the month still has the 5,000 tokens the next line reports.
  await reserve('pro plan, above the monthly allowance', 15_000);

  const topUp = { personId, meter: 'tokens', amount: 100_000, idempotencyKey: `topup-${personId}`, reason: 'credit top-up purchase' };
  const grant = await client.grantCredits(topUp);
  log(`  credit top-up of ${formatCount(topUp.amount)} tokens (grant ${grant.grantId}) -> balance ${formatCount(grant.balance)}`);
  const afterTopUp = await reserve('pro plan, after the top-up', 15_000);
  // The same key again creates no second grant; its reply carries the balance now.
  const balance = await client.grantCredits(topUp);
  log(`  credit balance after the commit: ${formatCount(balance.balance)} (${formatCount(afterTopUp.creditQuantity)} tokens burned)`);

  const account = await waitForAccount(options, balance.balance);
  log(`  from the GraphQL API: plan "${account.subscription.planId}", ${account.subscription.history.nodes.length} subscription change, ${formatCount(account.credits.balances[0]?.balance ?? 0)} tokens of credit`);
  for (const limit of account.limits) {
    log(`    limit ${limit.limitId.padEnd(13)} ${formatCount(limit.used).padStart(9)} used of ${formatCount(limit.amount).padStart(9)}, ${formatCount(limit.remaining).padStart(7)} left, resets ${limit.resetsAt}`);
  }
  return { steps, creditBalance: balance.balance };
}

interface PersonAccount {
  subscription: { planId: string; history: { nodes: unknown[] } };
  credits: { balances: Array<{ meter: string; balance: number }> };
  limits: Array<{ limitId: string; used: number; amount: number; remaining: number; resetsAt: string }>;
}

/** Reads the person's plan, credit and limits from GraphQL once the read model shows the expected credit balance. */
async function waitForAccount(options: PlansDemoOptions, creditBalance: number): Promise<PersonAccount> {
  const query = `query Account($id: String!) { person(id: $id) {
    subscription { planId history { nodes { externalId } } }
    credits { balances(meter: "tokens") { meter balance } }
    limits(meter: "tokens") { limitId used amount remaining resetsAt } } }`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(options.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
      body: JSON.stringify({ query, variables: { id: options.personId } }),
      signal: AbortSignal.timeout(5_000),
    });
    const reply = (await response.json()) as { data?: { person: PersonAccount }; errors?: Array<{ message: string }> };
    if (reply.errors !== undefined) throw new Error(`person account query failed: ${reply.errors.map((error) => error.message).join('; ')}`);
    const account = reply.data!.person;
    if (account.credits.balances[0]?.balance === creditBalance) return account;
    if (Date.now() > deadline) throw new Error(`the GraphQL API did not show a credit balance of ${creditBalance} within 30 s`);
    await delay(100);
  }
}
