/** The logging surface library code uses; the task adapter and plain scripts both provide one. */
import type { ProgressSink } from './progress';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  /** Progress of a long transfer (also drives the pipeline's progress bar). */
  progress?: ProgressSink;
}

/** Logger writing to the console, for CLIs, scripts and benchmarks. */
export const consoleLogger: Logger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(`warning: ${m}`),
  debug: (m) => {
    if (process.env.DEBUG) console.log(`debug: ${m}`);
  },
  progress: (u) => console.log(u.line),
};

/** Logger that drops everything (tests). */
export const silentLogger: Logger = { info: () => {}, warn: () => {}, debug: () => {} };
