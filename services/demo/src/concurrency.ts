/** Runs a task once fewer than the limiter's maximum are in flight, and settles with the task's result. */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** Creates a limiter that runs at most `maxInFlight` tasks at once, in the order they were queued. */
export function createLimiter(maxInFlight: number): Limiter {
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new RangeError(`maxInFlight must be a positive integer, got ${maxInFlight}`);
  }
  let inFlight = 0;
  const waiting: (() => void)[] = [];

  const startNext = (): void => {
    const next = waiting.shift();
    if (next === undefined) inFlight--;
    else next();
  };

  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (inFlight < maxInFlight) inFlight++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    // The slot passes straight from a finished task to the next waiting one, so inFlight never overshoots.
    try {
      return await task();
    } finally {
      startNext();
    }
  };
}
