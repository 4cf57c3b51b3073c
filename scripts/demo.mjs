// Placeholder main job until the apps land (issue 5): shows the protocol package mediating scopes.
import { grantScopes } from '../packages/protocol/dist/index.js';

const registered = 'system/Patient.rs system/Observation.rs?category=laboratory';
const requested = 'system/*.read system/Encounter.rs launch';
const grant = grantScopes(requested, registered);
console.log(JSON.stringify({ registered, requested, ...grant, granted: undefined }, null, 2));
