import type { AppConfig } from '../config.js';
import type { ResourceStore } from '../store/resource-store.js';

/** What the FHIR interaction handlers need. */
export interface FhirRouteContext {
  readonly config: AppConfig;
  readonly store: ResourceStore;
}
