export const FONT_FILES: string[];
export function renderSvg(svgText: string, width: number, name?: string): Buffer;
export function renderSvgFile(path: string, width: number): Buffer;
export function renderSvgPixels(path: string, width: number): { width: number; height: number; pixels: Buffer };
