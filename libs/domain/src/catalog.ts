import type { OveragePolicy, Period } from '@vevee/contracts';

import { DomainError } from './errors';

export type WindowKind = 'calendar' | 'anchored';
export type Enforcement = 'hard' | 'soft';
export type Aggregation = 'sum' | 'count';

/** A quantity a workspace measures, such as tokens, requests or USD. */
export interface MeterDefinition {
  key: string;
  /** Free text such as `tokens`, or a currency code such as `USD`. */
  unit: string;
  /** `sum` adds each quantity, `count` adds 1 per event. */
  aggregation: Aggregation;
  displayName: string;
}

/** One cap on one meter within a plan version. */
export interface LimitDefinition {
  /** Unique within the plan version, for example `tokens-month`. */
  id: string;
  meter: string;
  amount: number;
  period: Period;
  /** Calendar windows align to the workspace's time zone; anchored ones to the subscription's start. */
  window: WindowKind;
  /** Hard limits deny, soft limits allow and flag the overage. */
  enforcement: Enforcement;
  overage: OveragePolicy;
  /** When set, credits pay for usage above this limit once its allowance is spent. */
  credits: boolean;
}

/** A published version of a plan. Versions never change once published. */
export interface PlanVersion {
  planId: string;
  version: number;
  name: string;
  limits: LimitDefinition[];
}

/**
 * A workspace's meters and plans, as the deciders see them. `version` grows by
 * one with every change, so a decider applies changes in order and ignores an
 * older copy.
 */
export interface WorkspaceCatalog {
  workspaceId: string;
  timeZone: string;
  version: number;
  meters: Record<string, MeterDefinition>;
  /** Every published version of each plan, oldest first. */
  plans: Record<string, PlanVersion[]>;
  /** The plan of a person without an active subscription. */
  defaultPlanId: string;
}

/** Returns the latest version of a plan, or undefined for an unknown plan. */
export function latestPlanVersion(catalog: WorkspaceCatalog, planId: string): PlanVersion | undefined {
  const versions = catalog.plans[planId];
  return versions === undefined ? undefined : versions[versions.length - 1];
}

export function meterOf(catalog: WorkspaceCatalog, meter: string): MeterDefinition {
  const definition = catalog.meters[meter];
  if (definition === undefined) {
    const known = Object.keys(catalog.meters).join(', ');
    throw new DomainError('invalid_argument', 'meter', `unknown meter "${meter}"; the workspace defines: ${known === '' ? '(none)' : known}`);
  }
  return definition;
}

/** Returns true for a three-letter upper-case code such as USD, which credits may be granted in. */
export function isCurrencyCode(unit: string): boolean {
  return /^[A-Z]{3}$/.test(unit);
}
