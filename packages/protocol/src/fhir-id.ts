/**
 * FHIR R4 `id` (http://hl7.org/fhir/R4/datatypes.html#id): 1 to 64 of `A-Z a-z 0-9 - .`.
 *
 * An id made only of dots (`.`, `..`) matches that pattern but is a path segment with a meaning of
 * its own in a URL (RFC 3986 §3.3, §5.2.4 dot segments): `Observation/..` would name the type's
 * parent. Such ids are refused everywhere, so no URL this project builds has a dot segment.
 */
export const FHIR_ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

const DOTS_ONLY = /^\.+$/;

export function isFhirId(value: string | undefined): boolean {
  return value !== undefined && FHIR_ID_PATTERN.test(value) && !DOTS_ONLY.test(value);
}
