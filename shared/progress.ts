/**
 * Progress reporting for long byte transfers, independent of Azure Pipelines.
 * A {@link ProgressMeter} counts bytes and calls a sink at a sane rate with a
 * ready-made line (bytes, percent, MB/s, ETA) and the percent, so the task
 * adapter can print it and emit `##vso[task.setprogress]`.
 */
import { formatBytes, formatDuration, formatRate } from './format';

export interface ProgressUpdate {
  /** What is being done, e.g. `Downloading models/resnet/model.onnx`. */
  label: string;
  bytesDone: number;
  /** Unknown totals are undefined. */
  bytesTotal?: number;
  /** 0..100 when the total is known. */
  percent?: number;
  bytesPerSecond: number;
  etaSeconds?: number;
  /** One log line describing the above. */
  line: string;
  done: boolean;
}

export type ProgressSink = (update: ProgressUpdate) => void;

export interface ProgressMeterOptions {
  label: string;
  total?: number;
  sink?: ProgressSink;
  /** Minimum time between two updates (default 2 s). */
  intervalMs?: number;
  now?: () => number;
}

export class ProgressMeter {
  private done = 0;
  private readonly started: number;
  private lastEmit = 0;
  private finished = false;
  private readonly now: () => number;
  private readonly intervalMs: number;

  constructor(private readonly options: ProgressMeterOptions) {
    this.now = options.now ?? (() => Date.now());
    this.started = this.now();
    this.lastEmit = this.started;
    this.intervalMs = options.intervalMs ?? 2000;
  }

  get bytesDone(): number {
    return this.done;
  }

  /** Count `n` more bytes; emits at most once per interval. */
  add(n: number): void {
    this.done += n;
    const t = this.now();
    if (t - this.lastEmit >= this.intervalMs) {
      this.lastEmit = t;
      this.emit(false);
    }
  }

  /** Emit a final line (once). */
  finish(): ProgressUpdate {
    const update = this.snapshot(true);
    if (!this.finished) {
      this.finished = true;
      this.options.sink?.(update);
    }
    return update;
  }

  snapshot(done = false): ProgressUpdate {
    const elapsed = Math.max((this.now() - this.started) / 1000, 1e-3);
    const rate = this.done / elapsed;
    const total = this.options.total;
    const percent = total && total > 0 ? Math.min(100, (this.done / total) * 100) : total === 0 ? 100 : undefined;
    const eta = total !== undefined && rate > 0 ? Math.max(0, (total - this.done) / rate) : undefined;
    let line = `${this.options.label}: ${formatBytes(this.done)}`;
    if (total !== undefined) line += ` of ${formatBytes(total)}`;
    if (percent !== undefined) line += ` (${percent.toFixed(0)}%)`;
    line += `, ${formatRate(rate)}`;
    if (done) line += `, ${formatDuration(elapsed)}`;
    else if (eta !== undefined) line += `, ETA ${formatDuration(eta)}`;
    return { label: this.options.label, bytesDone: this.done, bytesTotal: total, percent, bytesPerSecond: rate, etaSeconds: eta, line, done };
  }

  private emit(done: boolean): void {
    this.options.sink?.(this.snapshot(done));
  }
}
