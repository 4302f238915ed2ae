/** A pseudo-random source of floats in [0, 1). */
export type Random = () => number;

/**
 * Creates a seeded PRNG (mulberry32: a 32-bit state stepped by a Weyl sequence, then
 * mixed). The same seed always yields the same sequence, on every platform, which is all
 * the demo needs. It is not a cryptographic generator.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Creates a sampler of ranks 1..n with P(k) proportional to 1 / k^exponent (a Zipf
 * distribution). It inverts the cumulative weights by binary search, so one draw costs
 * O(log n).
 */
export function zipfSampler(n: number, exponent: number, random: Random): () => number {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`zipf n must be a positive integer, got ${n}`);
  }
  if (!Number.isFinite(exponent) || exponent < 0) {
    throw new RangeError(`zipf exponent must be a finite number >= 0, got ${exponent}`);
  }

  const cumulative: number[] = [];
  let total = 0;
  for (let rank = 1; rank <= n; rank++) {
    total += 1 / rank ** exponent;
    cumulative.push(total);
  }

  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cumulative[middle] ?? total) > target) high = middle;
      else low = middle + 1;
    }
    return low + 1;
  };
}
