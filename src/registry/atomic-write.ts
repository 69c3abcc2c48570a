/** Moved to src/util (the agent writes files atomically too); kept here for the registry's imports. */
export { tempPathFor, writeAtomically } from '../util/atomic-write.js';
