import { afterEach, describe, expect, it, vi } from 'vitest';

import { DEMO_MODELS, priceCall, type DemoModel } from '../src/prices';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('priceCall', () => {
  // List prices per million tokens in the bundled table of @pydantic/genai-prices 0.1.8.
  it.each([
    ['gpt-4o-mini', 'openai', 0.15, 0.6],
    ['claude-haiku-4-5', 'anthropic', 1, 5],
    ['gpt-4.1', 'openai', 2, 8],
  ] as const)('prices %s from the bundled table', (model, provider, inputPerMillion, outputPerMillion) => {
    const price = priceCall({ model, inputTokens: 1_200, outputTokens: 300 });

    expect(price.provider).toBe(provider);
    expect(price.model).toBe(model);
    expect(price.currency).toBe('USD');
    expect(price.cost).toBeCloseTo((1_200 * inputPerMillion + 300 * outputPerMillion) / 1_000_000, 12);
  });

  it('prices every demo model', () => {
    for (const model of Object.keys(DEMO_MODELS) as DemoModel[]) {
      expect(priceCall({ model, inputTokens: 1, outputTokens: 1 }).cost).toBeGreaterThan(0);
    }
  });

  it('prices a call without the network', () => {
    const fetchSpy = vi.fn(() => Promise.reject(new Error('network disabled in this test')));
    vi.stubGlobal('fetch', fetchSpy);

    const price = priceCall({ model: 'gpt-4o-mini', inputTokens: 1_000_000, outputTokens: 1_000_000 });

    expect(price.cost).toBeCloseTo(0.75, 12);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('costs nothing for zero tokens', () => {
    expect(priceCall({ model: 'gpt-4.1', inputTokens: 0, outputTokens: 0 }).cost).toBe(0);
  });

  it('rejects an unknown model', () => {
    expect(() => priceCall({ model: 'gpt-2' as DemoModel, inputTokens: 1, outputTokens: 1 })).toThrow('model gpt-2 is not a demo model');
  });

  it('rejects invalid token counts', () => {
    expect(() => priceCall({ model: 'gpt-4.1', inputTokens: -1, outputTokens: 1 })).toThrow('inputTokens must be a non-negative integer, got -1');
    expect(() => priceCall({ model: 'gpt-4.1', inputTokens: 1, outputTokens: 1.5 })).toThrow('outputTokens must be a non-negative integer, got 1.5');
  });
});
