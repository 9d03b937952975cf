/**
 * The payment provider the payment actor charges. The example ships a simulated one
 * (`simulatedProvider`): deterministic, no network, so tests and demos know the outcome from
 * the token alone, as shop/v1/payment.proto describes:
 *
 * - a token starting with "tok_decline" is declined; the rest after "tok_decline_" is the
 *   decline reason ("tok_decline_insufficient_funds" → "insufficient_funds"), else
 *   "card_declined";
 * - any other non-empty token is captured, with a provider reference derived from the
 *   idempotency key (the same key always gives the same reference).
 *
 * A real provider is called with the charge's idempotency key (as Stripe's Idempotency-Key
 * header), so that two attempts of one charge, racing or after a crash, take the money once.
 */
import type { Money } from "../../proto/gen/shop/v1/money_pb.ts";

/** One charge as the provider sees it. */
export interface ProviderCharge {
  readonly idempotencyKey: string;
  readonly amount: Money;
  readonly paymentMethodToken: string;
  readonly description: string;
}

/** What the provider did: took the money, or refused to. */
export type ProviderOutcome =
  | { readonly captured: true; readonly providerReference: string }
  | { readonly captured: false; readonly declineReason: string };

export interface PaymentProvider {
  /** Charges once per idempotency key; a decline is an outcome, a failure to answer throws. */
  charge(charge: ProviderCharge): Promise<ProviderOutcome>;
}

/** Tokens starting with this are declined by the simulated provider. */
export const DECLINE_TOKEN_PREFIX = "tok_decline";
const DEFAULT_DECLINE_REASON = "card_declined";

export const simulatedProvider: PaymentProvider = {
  async charge({ idempotencyKey, paymentMethodToken }) {
    if (paymentMethodToken.startsWith(DECLINE_TOKEN_PREFIX)) {
      const reason = paymentMethodToken.slice(DECLINE_TOKEN_PREFIX.length).replace(/^_/, "");
      return { captured: false, declineReason: reason === "" ? DEFAULT_DECLINE_REASON : reason };
    }
    return { captured: true, providerReference: `sim_${await digestHex(idempotencyKey, 24)}` };
  },
};

/** The first `length` hex digits of the SHA-256 of `text` (Web Crypto: every runtime has it). */
async function digestHex(text: string, length: number): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)]
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, length);
}
