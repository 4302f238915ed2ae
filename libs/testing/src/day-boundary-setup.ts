import { beforeAll } from 'vitest';

import { waitUntilClearOfDayBoundary } from './day-boundary';

/** Maximum run time of a test file that counts in day windows, with room to spare. */
const FILE_MARGIN_MS = 5 * 60_000;

// Runs before each integration and end-to-end test file (vitest setupFiles).
beforeAll(() => waitUntilClearOfDayBoundary(FILE_MARGIN_MS), FILE_MARGIN_MS + 60_000);
