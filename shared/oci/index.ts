/**
 * Public surface of shared/oci/: oCI images on disk: references, platforms, reproducible tar layers, image config/manifest, layouts, bundling (daemonless and Docker).
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { bundleImage, DEFAULT_APP_DESTINATION, DEFAULT_MODEL_DESTINATION } from './bundle';
export type { BundleOptions } from './bundle';
export { bundleWithDocker, DEFAULT_DOCKERFILE } from './docker-build';
export type { DockerBundleOptions } from './docker-build';
export { dockerArchiveStream } from './docker-archive';
export { canonicalJson, DEFAULT_IMAGE_FORMAT } from './image';
export { DEFAULT_COMPRESSION, writeLayer } from './layer';
export type { LayerResult, SampleResult, WriteLayerOptions } from './layer';
export { OciLayout } from './layout';
export { DEFAULT_PLATFORM, findPlatform, formatPlatform, listPlatforms } from './platform';
export { createdFromSources } from './provenance';
export type { Provenance } from './provenance';
export { formatReference, isValidTag, normaliseRegistry, parseReference, registryProblem, sameRepository, sanitizeTag } from './reference';
export type { ImageReference, ParseReferenceOptions } from './reference';
export { collectEntries, defaultMtime } from './tar';
export type { TarStreamOptions, TreeSource } from './tar';
export { Annotation, isIndexMediaType, isManifestMediaType, MANIFEST_ACCEPT, MediaType } from './types';
export type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from './types';
export { bundleMessage } from './write-image';
export type { BundleResult } from './write-image';
