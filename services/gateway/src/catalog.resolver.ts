import { Inject } from '@nestjs/common';
import { Args, Context, Mutation, Query, Resolver } from '@nestjs/graphql';
import type pg from 'pg';

import type { MeterDefinition, PlanVersion, WorkspaceCatalog } from '@vevee/domain';
import { CatalogInputError, PG_POOL, defineMeter, loadCatalog, publishPlanVersion, setDefaultPlan } from '@vevee/postgres';

import type { GatewayContext } from './auth';
import { CatalogPublisher } from './catalog-publisher';
import { badUserInput } from './errors';

interface PlanVersionView extends PlanVersion {
  publishedAt: Date;
}

interface PlanView {
  id: string;
  isDefault: boolean;
  latest: PlanVersionView;
  versions: PlanVersionView[];
}

/** Arguments of publishPlanVersion as GraphQL delivers them, enums already in the catalog's spelling. */
interface PublishArguments {
  planId: string;
  name: string;
  limits: Record<string, unknown>[];
}

/**
 * Turns a rejected catalog change into BAD_USER_INPUT. The message lists
 * every invalid field by its path, like `limits[1].amount`, and
 * `extensions.argument` names the argument of the first one.
 */
function toBadUserInput(error: unknown): unknown {
  if (!(error instanceof CatalogInputError)) return error;
  const message = error.problems.map((problem) => `argument "${problem.path}" ${problem.message}`).join('; ');
  const argument = /^[A-Za-z]+/.exec(error.problems[0]?.path ?? '')?.[0] ?? '';
  return badUserInput(argument, message);
}

/** Queries and mutations of the workspace catalog. Every mutation publishes the new catalog to the command service. */
@Resolver()
export class CatalogResolver {
  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(CatalogPublisher) private readonly publisher: CatalogPublisher,
  ) {}

  @Query('meters')
  async meters(@Context() context: GatewayContext): Promise<MeterDefinition[]> {
    const catalog = await this.catalogOf(context);
    return Object.values(catalog.meters);
  }

  @Query('plans')
  async plans(@Context() context: GatewayContext): Promise<PlanView[]> {
    const catalog = await this.catalogOf(context);
    return this.planViews(catalog, Object.keys(catalog.plans).sort());
  }

  @Query('plan')
  async plan(@Args('id') id: string, @Context() context: GatewayContext): Promise<PlanView | null> {
    const catalog = await this.catalogOf(context);
    if (catalog.plans[id] === undefined) return null;
    return (await this.planViews(catalog, [id]))[0]!;
  }

  @Mutation('defineMeter')
  async defineMeter(@Args('input') input: Record<string, unknown>, @Context() context: GatewayContext): Promise<MeterDefinition> {
    // An omitted displayName arrives as null or undefined; the catalog defaults it to the key.
    const meterInput = { ...input, displayName: input.displayName ?? undefined };
    const { meter, catalog } = await defineMeter(this.pool, context.workspace.workspaceId, meterInput).catch((error: unknown) => {
      throw toBadUserInput(error);
    });
    await this.publisher.publish(catalog);
    return meter;
  }

  @Mutation('publishPlanVersion')
  async publishPlanVersion(@Args() args: PublishArguments, @Context() context: GatewayContext): Promise<PlanVersionView> {
    const { planVersion, catalog } = await publishPlanVersion(this.pool, context.workspace.workspaceId, args).catch((error: unknown) => {
      throw toBadUserInput(error);
    });
    await this.publisher.publish(catalog);
    const published = await this.publishedTimes(catalog.workspaceId);
    return { ...planVersion, publishedAt: published.get(`${planVersion.planId}@${planVersion.version}`)! };
  }

  @Mutation('setDefaultPlan')
  async setDefaultPlan(@Args('planId') planId: string, @Context() context: GatewayContext): Promise<PlanView> {
    const catalog = await setDefaultPlan(this.pool, context.workspace.workspaceId, planId).catch((error: unknown) => {
      throw toBadUserInput(error);
    });
    await this.publisher.publish(catalog);
    return (await this.planViews(catalog, [planId]))[0]!;
  }

  private async catalogOf(context: GatewayContext): Promise<WorkspaceCatalog> {
    const catalog = await loadCatalog(this.pool, context.workspace.workspaceId);
    if (catalog === undefined) throw new Error(`workspace "${context.workspace.workspaceId}" of the API key is missing in PostgreSQL`);
    return catalog;
  }

  /** Returns each version's publish time, keyed `planId@version`. */
  private async publishedTimes(workspaceId: string): Promise<Map<string, Date>> {
    const rows = await this.pool.query<{ plan_id: string; version: number; published_at: Date }>(
      'SELECT plan_id, version, published_at FROM plan_versions WHERE workspace_id = $1',
      [workspaceId],
    );
    return new Map(rows.rows.map((row) => [`${row.plan_id}@${row.version}`, row.published_at]));
  }

  private async planViews(catalog: WorkspaceCatalog, planIds: string[]): Promise<PlanView[]> {
    const published = await this.publishedTimes(catalog.workspaceId);
    return planIds.map((planId) => {
      const versions = catalog.plans[planId]!.map((version) => ({ ...version, publishedAt: published.get(`${planId}@${version.version}`)! }));
      return { id: planId, isDefault: catalog.defaultPlanId === planId, latest: versions[versions.length - 1]!, versions };
    });
  }
}
