/**
 * Public surface of shared/k8s/: deployToAKS's library: AKS credentials, kubeconfig, manifests and template, apply, rollout, rollback, diagnosis.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { fetchAksKubeconfig } from './aks';
export { ACTIONS, CANARY_DEFAULTS, PERCENTAGE_RANGE, REPLICAS_RANGE, servingSummary, STRATEGIES, TRAFFIC_SPLIT_METHODS } from './canary';
export type { ReleaseAction, Serving, Strategy, TrafficSplitMethod } from './canary';
export { KubeClient } from './client';
export type { KubeClientOptions } from './client';
export { deploy, DEPLOY_DEFAULTS, deployMessage } from './deploy';
export type { DeployOptions, DeployReport, DeployResult } from './deploy';
export { release, releaseMessage } from './release';
export type { ReleaseOptions, ReleaseResult } from './release';
export { kubeConfigFromServiceAccount, kubeConfigFromString, useEntraTokens } from './kubeconfig';
export { kubeconfigCredentials } from './kubeconfig-credentials';
export { checkDeployNames } from './names';
export { TEMPLATE_DEFAULTS } from './template';
export type { TemplateOptions } from './template';
