/**
 * Public surface of shared/testimage/: running a bundled image on the agent's
 * container engine and checking it (TestModelImage).
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { ContainerEngine, detectEngine, findOnPath } from './engine';
export type { EngineChoice, EngineKind } from './engine';
export { httpSend, loopbackSender, tcpOpen } from './http';
export { summaryMarkdown } from './summary';
export { jsonPathInput, parseHostPort, pickContainerPort, resolveImage, runArguments, RUN_DEFAULTS, CONTAINER_LABEL, testImage } from './test-image';
export type { NetworkMode, ReportedModel, ResolvedImage, TestImageOptions, TestImageResult } from './test-image';
