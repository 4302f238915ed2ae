import type { Batch } from 'kafkajs';

import { LedgerDecodeError, decodeLedgerEvent } from '@vevee/contracts';
import { toEventRow, type EventRow } from '@vevee/clickhouse';

/** The rows of a batch up to its first record that cannot be decoded. */
export interface DecodedBatch {
  rows: EventRow[];
  /** The offset of the last record in `rows`, or undefined when `rows` is empty. */
  lastOffset: string | undefined;
  /** The error of the first record that cannot be decoded. The records after it are not read. */
  failure: LedgerDecodeError | undefined;
}

function decodeError(error: unknown, batch: Batch, offset: string): LedgerDecodeError {
  const detail = { topic: batch.topic, partition: batch.partition, offset };
  if (error instanceof LedgerDecodeError) {
    return new LedgerDecodeError(error.message, detail);
  }
  // JSON.parse throws a SyntaxError for a record that is not JSON at all.
  const message = error instanceof Error ? error.message : String(error);
  return new LedgerDecodeError(`ledger record is not valid JSON: ${message}`, detail);
}

/**
 * Decodes a batch's records into event rows in offset order and stops at the
 * first record that cannot be decoded, because skipping it would lose data.
 */
export function decodeBatch(batch: Batch): DecodedBatch {
  const rows: EventRow[] = [];
  let lastOffset: string | undefined;
  for (const message of batch.messages) {
    let row: EventRow;
    try {
      const event = decodeLedgerEvent(message.value);
      row = toEventRow(event, { partition: batch.partition, offset: message.offset }, message.value!.toString('utf8'));
    } catch (error) {
      return { rows, lastOffset, failure: decodeError(error, batch, message.offset) };
    }
    rows.push(row);
    lastOffset = message.offset;
  }
  return { rows, lastOffset, failure: undefined };
}
