/**
 * Public surface of shared/stream/: stream helpers.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { CountingStream } from './count';
