export const TASK_ICON_SIZE: number;
export function taskIconSources(repoRoot?: string): Array<{ name: string; svg: string; png: string }>;
