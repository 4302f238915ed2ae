import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { parseTrace, type TraceRequest } from './trace';

/** The repository's copy of the Azure LLM inference trace 2023 (conversation service), CC BY 4.0. */
export const DEFAULT_TRACE_PATH = fileURLToPath(new URL('../../../data/azure-llm-inference-2023/conversation.csv', import.meta.url));

/** Reads and parses the trace CSV at `path`. */
export async function loadTrace(path: string = DEFAULT_TRACE_PATH): Promise<TraceRequest[]> {
  return parseTrace(await readFile(path, 'utf8'));
}
