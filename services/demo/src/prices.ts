import { calcPrice } from '@pydantic/genai-prices';

/*
 * Price source: the npm package @pydantic/genai-prices 0.1.8 (MIT, published
 * 2026-09-23), using the price table bundled in the package. The bundle has no date
 * field of its own, and its newest dated price note is 2026-09-22.
 *
 * The package fetches newer prices only after a call to its `updatePrices()` with a
 * storage factory. This module never calls it, so `calcPrice` reads the bundled table
 * and prices a call offline.
 */

/** The models that the demo assigns to requests, with the provider that serves each. */
export const DEMO_MODELS = {
  'gpt-4o-mini': 'openai',
  'claude-haiku-4-5': 'anthropic',
  'gpt-4.1': 'openai',
} as const;

export type DemoModel = keyof typeof DEMO_MODELS;

export interface CallUsage {
  model: DemoModel;
  inputTokens: number;
  outputTokens: number;
}

export interface CallPrice {
  /** Total cost of the call in US dollars. */
  cost: number;
  currency: 'USD';
  /** Provider id in the price table, e.g. `openai`. */
  provider: string;
  /** Model id in the price table that matched the requested model. */
  model: string;
}

/** Prices one call from its token counts with the bundled genai-prices table. */
export function priceCall(usage: CallUsage): CallPrice {
  const providerId: string | undefined = DEMO_MODELS[usage.model];
  if (providerId === undefined) {
    throw new Error(`model ${String(usage.model)} is not a demo model; use one of ${Object.keys(DEMO_MODELS).join(', ')}`);
  }
  assertTokenCount('inputTokens', usage.inputTokens);
  assertTokenCount('outputTokens', usage.outputTokens);

  const price = calcPrice({ input_tokens: usage.inputTokens, output_tokens: usage.outputTokens }, usage.model, { providerId });
  if (price === null) {
    throw new Error(`no price for model ${usage.model} of provider ${providerId} in @pydantic/genai-prices; pick a model that its table lists`);
  }
  return { cost: price.total_price, currency: 'USD', provider: price.provider.id, model: price.model.id };
}

function assertTokenCount(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${field} must be a non-negative integer, got ${value}`);
  }
}
