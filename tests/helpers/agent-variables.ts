/**
 * The variables the Azure Pipelines agent sets for a task, per host, as the
 * agent names them (tests pass them as pipeline variables: the agent
 * emulation turns them into the environment the agent gives a task).
 */

/** A YAML deployment job `environment: model-prod.scoring` (the agent's variables for such a job). */
export const YAML_DEPLOYMENT_JOB: Record<string, string> = {
  'System.HostType': 'build',
  'System.CollectionUri': 'https://dev.azure.com/contoso/',
  'System.TeamFoundationCollectionUri': 'https://dev.azure.com/contoso/',
  'System.TeamProject': 'Model Serving',
  'System.DefinitionId': '12',
  'Build.DefinitionName': 'model-release',
  'Build.BuildId': '4711',
  'Build.BuildNumber': '20261201.3',
  'Agent.JobName': 'Deploy resnet',
  'Environment.Name': 'model-prod',
  'Environment.Id': '5',
  'Environment.ResourceName': 'scoring',
  'Environment.ResourceId': '9',
  'Strategy.Name': 'runOnce',
};

/** A classic build (designer pipeline): no Environment.*, no Release.*. */
export const CLASSIC_BUILD: Record<string, string> = {
  'System.HostType': 'build',
  'System.TeamFoundationCollectionUri': 'https://contoso.visualstudio.com/',
  'System.CollectionUri': 'https://contoso.visualstudio.com/',
  'System.TeamProject': 'ML',
  'System.DefinitionId': '3',
  'Build.DefinitionName': 'resnet-CI',
  'Build.BuildId': '881',
  'Build.BuildNumber': '881',
  'Agent.JobName': 'Agent job 1',
};

/** A classic release's agent job: Build.* still describes the primary artifact's build. */
export const CLASSIC_RELEASE: Record<string, string> = {
  'System.HostType': 'release',
  'System.TeamFoundationCollectionUri': 'https://dev.azure.com/contoso/',
  'System.CollectionUri': 'https://dev.azure.com/contoso/',
  'System.TeamProject': 'ML',
  'System.DefinitionId': '3',
  'Build.DefinitionName': 'resnet-CI',
  'Build.BuildId': '881',
  'Build.BuildNumber': '881',
  'Release.ReleaseId': '57',
  'Release.ReleaseName': 'Release-57',
  'Release.DefinitionName': 'resnet-CD',
  'Release.DefinitionId': '2',
  'Release.EnvironmentName': 'Production',
  'Release.ReleaseWebURL': 'https://dev.azure.com/contoso/ML/_release?releaseId=57&_a=release-summary',
  'Agent.JobName': 'Deploy',
};
