import { MsgHdrsImpl } from "@nats-io/nats-core";

/**
 * NATS headers that are encoded once and then reused for every publish: the header block of a
 * call without metadata is the same bytes every time. Must not be changed after first use.
 */
export class EncodeOnceHeaders extends MsgHdrsImpl {
  #encoded: Uint8Array | undefined;

  override encode(): Uint8Array {
    this.#encoded ??= super.encode();
    return this.#encoded;
  }
}
