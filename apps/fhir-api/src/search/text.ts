/**
 * FHIR R4 search §3.1.1.5.1 (string): matching is case- and accent-insensitive by default. Indexed
 * text and search values go through the same normalization so SQL can compare them directly.
 */
export function normalizeText(value: string): string {
  return value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}
