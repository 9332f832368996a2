/**
 * Public surface of shared/net/: networking shared by every client: timeouts and deadline, proxy rules and agents, loopback checks, network failure codes.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { isAddressOrLocalName, isLoopbackAuthority, isLoopbackHost } from './loopback';
export { networkCode } from './network-code';
export { proxyAgent, proxyFor } from './proxy';
export type { ProxyOptions } from './proxy';
export {
  agentTimeoutOptions,
  DEFAULT_NETWORK_DEADLINE_MINUTES,
  DEFAULT_NETWORK_LIMITS,
  DEFAULT_NETWORK_TIMEOUT_SECONDS,
  guardRequest,
  isTimeoutError,
  networkLimits,
  TIMEOUT_RETRIES,
  timeoutDetail,
  withNetworkDeadline,
  withSocketTimeouts,
} from './timeouts';
export type { NetworkLimits } from './timeouts';
