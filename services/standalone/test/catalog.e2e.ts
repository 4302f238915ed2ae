import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { WorkspaceDirectory } from '@vevee/command';
import { CatalogPublisher } from '@vevee/gateway';
import { catalogTopic, createKafka } from '@vevee/kafka';
import { createLogger } from '@vevee/platform';
import { loadCatalog, publishPlanVersion } from '@vevee/postgres';
import { uniqueName, waitFor } from '@vevee/testing';

import { TEST_API_KEY, TEST_WORKSPACE, startTestStack, type TestStack } from './harness';

interface GraphQLResult {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string; argument?: string } }[];
}

let stack: TestStack;
let directory: WorkspaceDirectory;
let kafka: Kafka;

beforeAll(async () => {
  stack = await startTestStack({ tokens: { day: 50 } });
  directory = stack.vevee.app.get(WorkspaceDirectory, { strict: false });
  kafka = createKafka(stack.config, createLogger(stack.config, 'catalog-test'));
});

afterAll(async () => {
  await stack?.close();
});

async function graphql(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResult> {
  const response = await fetch(`${stack.vevee.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_API_KEY}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResult;
}

const PUBLISH = `mutation ($planId: String!, $name: String!, $limits: [LimitInput!]!) {
  publishPlanVersion(planId: $planId, name: $name, limits: $limits) { planId version name limits { id amount period } }
}`;

function tokensPerDay(amount: number): Record<string, unknown>[] {
  return [{ id: 'tokens-day', meter: 'tokens', amount, period: 'DAY' }];
}

async function publish(planId: string, amount: number): Promise<number> {
  const result = await graphql(PUBLISH, { planId, name: `Tokens ${amount}`, limits: tokensPerDay(amount) });
  expect(result.errors).toBeUndefined();
  return (result.data?.publishPlanVersion as { version: number }).version;
}

/** Waits until the command service decides with catalog version `version` or a newer one. */
async function deciderCatalogVersion(version: number): Promise<number> {
  return waitFor(`the command service to apply catalog version ${version}`, () => {
    const current = directory.catalog(TEST_WORKSPACE)?.version ?? -1;
    return current >= version ? current : undefined;
  });
}

/** Reads the QuotaReserved event of a reservation from ClickHouse, once the projector wrote it. */
async function reservedEvent(reservationId: string): Promise<{ planVersion: number; planId: string }> {
  return waitFor(`the QuotaReserved event of ${reservationId} in ClickHouse`, async () => {
    const result = await stack.clickhouse.query({
      query: `SELECT payload FROM ${stack.config.clickhouseDatabase}.events FINAL WHERE reservation_id = {id:String} AND type = 'QuotaReserved'`,
      query_params: { id: reservationId },
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ payload: string }>();
    return rows.length === 0 ? undefined : (JSON.parse(rows[0]!.payload) as { planVersion: number; planId: string });
  });
}

/** Reads the versions of the test workspace's records on the catalog topic, in topic order. */
async function catalogRecordVersions(atLeast: number): Promise<number[]> {
  const versions: number[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('catalog-reader'), maxWaitTimeInMs: 100 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: catalogTopic(stack.config), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== TEST_WORKSPACE || message.value === null) return;
        versions.push((JSON.parse(message.value.toString()) as { version: number }).version);
      },
    });
    await waitFor(`catalog version ${atLeast} on the topic`, () => versions.includes(atLeast) || undefined);
  } finally {
    await consumer.disconnect();
  }
  return versions;
}

describe('catalog delivery', () => {
  it('reserve › uses a newly published plan version', async () => {
    const before = await stack.sdk.reserve({ personId: 'catalog-person', meter: 'tokens', quantity: 40 });
    expect(before.allowed).toBe(true);
    expect(before.limit).toBe(50);

    const version = await publish('default', 500);
    expect(version).toBe(2);
    const catalogVersion = (await loadCatalog(stack.pool, TEST_WORKSPACE))!.version;
    await deciderCatalogVersion(catalogVersion);

    const after = await stack.sdk.reserve({ personId: 'catalog-person', meter: 'tokens', quantity: 100 });
    expect(after.allowed).toBe(true);
    expect(after.limit).toBe(500);
    expect(after.remaining).toBe(360);

    const event = await reservedEvent(after.reservationId);
    expect(event.planVersion).toBe(2);
    expect(event.planId).toBe('default');
    expect((await reservedEvent(before.reservationId)).planVersion).toBe(1);
  });

  it('two quick versions › arrive in order', async () => {
    const third = await publish('default', 600);
    const fourth = await publish('default', 700);
    expect([third, fourth]).toEqual([3, 4]);
    const latest = (await loadCatalog(stack.pool, TEST_WORKSPACE))!.version;

    await deciderCatalogVersion(latest);
    expect(directory.catalog(TEST_WORKSPACE)?.plans.default?.at(-1)?.limits[0]?.amount).toBe(700);

    const versions = await catalogRecordVersions(latest);
    expect(versions).toEqual([...versions].sort((left, right) => left - right));
    expect(versions.at(-1)).toBe(latest);

    const reply = await stack.sdk.reserve({ personId: 'ordered-person', meter: 'tokens', quantity: 1 });
    expect(reply.limit).toBe(700);
  });

  it('concurrent versions › the decider ends on the newest', async () => {
    const amounts = [1_001, 1_002, 1_003, 1_004, 1_005];
    await Promise.all(amounts.map((amount) => publish('default', amount)));
    const stored = (await loadCatalog(stack.pool, TEST_WORKSPACE))!;

    await deciderCatalogVersion(stored.version);

    const decided = directory.catalog(TEST_WORKSPACE)!;
    expect(decided.version).toBe(stored.version);
    expect(decided.plans.default?.at(-1)).toEqual(stored.plans.default?.at(-1));
  });

  it('defineMeter › a new meter is usable once published in a plan', async () => {
    const defined = await graphql('mutation { defineMeter(input: {key: "images", unit: "images", aggregation: COUNT, displayName: "Images"}) { key unit aggregation displayName } }');
    expect(defined.data?.defineMeter).toEqual({ key: 'images', unit: 'images', aggregation: 'COUNT', displayName: 'Images' });

    const version = await publish('default', 800).then(async () => {
      const result = await graphql(PUBLISH, {
        planId: 'default',
        name: 'Tokens and images',
        limits: [...tokensPerDay(800), { id: 'images-month', meter: 'images', amount: 3, period: 'MONTH', enforcement: 'HARD' }],
      });
      expect(result.errors).toBeUndefined();
      return (await loadCatalog(stack.pool, TEST_WORKSPACE))!.version;
    });
    await deciderCatalogVersion(version);

    const reply = await stack.sdk.reserve({ personId: 'image-person', meter: 'images', quantity: 1 });
    expect(reply.allowed).toBe(true);
    expect(reply.limit).toBe(3);
  });

  it('plans › lists versions, latest and the default', async () => {
    const result = await graphql('{ meters { key } plans { id isDefault latest { version name } versions { version publishedAt } } plan(id: "default") { id } missing: plan(id: "gold") { id } }');

    expect(result.errors).toBeUndefined();
    const plans = result.data?.plans as { id: string; isDefault: boolean; latest: { version: number }; versions: { version: number; publishedAt: string }[] }[];
    expect(plans.map((plan) => plan.id)).toEqual(['default']);
    expect(plans[0]?.isDefault).toBe(true);
    expect(plans[0]?.versions.map((version) => version.version)).toEqual(Array.from({ length: plans[0]!.latest.version }, (_, index) => index + 1));
    expect(plans[0]?.versions[0]?.publishedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((result.data?.meters as { key: string }[]).map((meter) => meter.key)).toEqual(['images', 'tokens']);
    expect(result.data?.plan).toEqual({ id: 'default' });
    expect(result.data?.missing).toBeNull();
  });

  it('setDefaultPlan › switches the plan of persons without a subscription', async () => {
    const published = await publish('generous', 5_000);
    expect(published).toBe(1);

    const result = await graphql('mutation { setDefaultPlan(planId: "generous") { id isDefault latest { version } } }');
    expect(result.data?.setDefaultPlan).toEqual({ id: 'generous', isDefault: true, latest: { version: 1 } });
    await deciderCatalogVersion((await loadCatalog(stack.pool, TEST_WORKSPACE))!.version);

    const reply = await stack.sdk.reserve({ personId: 'default-switch-person', meter: 'tokens', quantity: 1 });
    expect(reply.limit).toBe(5_000);
    expect((await reservedEvent(reply.reservationId)).planId).toBe('generous');
  });
});

describe('catalog delivery after a failed publish', () => {
  // A change committed in PostgreSQL without a publish is what a publish failure after the commit leaves.
  async function commitWithoutPublish(amount: number): Promise<number> {
    const { catalog } = await publishPlanVersion(stack.pool, TEST_WORKSPACE, { planId: 'generous', name: 'Unpublished', limits: [{ id: 'tokens-day', meter: 'tokens', amount, period: 'day' }] });
    return catalog.version;
  }

  it('next mutation › delivers the missed change too', async () => {
    const missed = await commitWithoutPublish(6_000);
    expect(directory.catalog(TEST_WORKSPACE)?.version).toBe(missed - 1);

    await graphql('mutation { defineMeter(input: {key: "videos", unit: "seconds"}) { key } }');

    await deciderCatalogVersion(missed + 1);
    expect(directory.catalog(TEST_WORKSPACE)?.plans.generous?.at(-1)?.limits[0]?.amount).toBe(6_000);
  });

  it('republishCatalogs › delivers what PostgreSQL holds', async () => {
    const missed = await commitWithoutPublish(7_000);

    await stack.vevee.app.get(CatalogPublisher, { strict: false }).republishCatalogs();

    await deciderCatalogVersion(missed);
    const reply = await stack.sdk.reserve({ personId: 'republish-person', meter: 'tokens', quantity: 1 });
    expect(reply.limit).toBe(7_000);
  });
});

describe('catalog input validation', () => {
  it('publishPlanVersion › names each invalid limit field', async () => {
    const before = (await loadCatalog(stack.pool, TEST_WORKSPACE))!.version;
    const result = await graphql(PUBLISH, {
      planId: 'default',
      name: 'Broken',
      limits: [
        { id: 'a', meter: 'songs', amount: 0, period: 'DAY' },
        { id: 'a', meter: 'tokens', amount: 5, period: 'MONTH' },
      ],
    });

    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'limits' });
    expect(result.errors?.[0]?.message).toBe(
      'argument "limits[0].meter" is not a defined meter: use one of images, tokens, videos; ' +
        'argument "limits[0].amount" must be a number above 0 and at most 1000000000000000; ' +
        'argument "limits[1].id" repeats the id "a" of limits[0]: give each limit of a plan version its own id',
    );
    expect((await loadCatalog(stack.pool, TEST_WORKSPACE))!.version).toBe(before);
  });

  it('defineMeter › names an invalid key and unit', async () => {
    const result = await graphql('mutation { defineMeter(input: {key: "bad key", unit: "9"}) { key } }');

    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'input' });
    expect(result.errors?.[0]?.message).toContain(`argument "input.key" is an invalid meter key: use 1 to 64 letters, digits, '_', '.' or '-'`);
    expect(result.errors?.[0]?.message).toContain('argument "input.unit" is invalid');
  });

  it('setDefaultPlan › names an unknown plan and the known ones', async () => {
    const result = await graphql('mutation { setDefaultPlan(planId: "gold") { id } }');

    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'planId' });
    expect(result.errors?.[0]?.message).toBe('argument "planId" is not a published plan: use one of default, generous');
  });

  it('publishPlanVersion › rejects an unknown period enum', async () => {
    const result = await graphql(PUBLISH, { planId: 'default', name: 'X', limits: [{ id: 'x', meter: 'tokens', amount: 1, period: 'FORTNIGHT' }] });

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toContain('FORTNIGHT');
  });
});
