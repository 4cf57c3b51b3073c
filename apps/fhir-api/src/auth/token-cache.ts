import type { VerifiedToken } from './token-verifier.js';

/**
 * Verified tokens, kept until they expire so that a client's next request skips the signature
 * check. Bounded (least recently used goes first) so that a flood of distinct valid tokens cannot
 * grow memory without limit. Only tokens that passed every check are ever stored.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedToken>();

  constructor(private readonly maxEntries: number) {}

  /** The cached verification, 'expired' once `exp` (+ skew) has passed, or undefined. */
  get(token: string, nowSeconds: number, skewSeconds: number): VerifiedToken | 'expired' | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    // Same rule as the full check (RFC 7519 §4.1.4): expired once exp <= now - skew.
    if (entry.expiresAt <= nowSeconds - skewSeconds) return 'expired';
    this.entries.set(token, entry);
    return entry;
  }

  set(token: string, verified: VerifiedToken): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, verified);
  }

  get size(): number {
    return this.entries.size;
  }
}
