/** A progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise (nohup, CI). */
export class Progress {
  private done = 0;
  private lastDecile = -1;
  private readonly startMs = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly enabled = true,
  ) {
    this.draw();
  }

  tick(n = 1): void {
    this.done = Math.min(this.total, this.done + n);
    this.draw();
  }

  set(done: number): void {
    this.done = Math.min(this.total, done);
    this.draw();
  }

  finish(note = ""): void {
    if (!this.enabled) return;
    this.done = this.total;
    const secs = ((Date.now() - this.startMs) / 1000).toFixed(1);
    if (this.tty) process.stderr.write(`\r${this.bar()} ${secs}s ${note}\x1b[K\n`);
    else process.stderr.write(`  ${this.label}: done in ${secs}s ${note}\n`);
  }

  private bar(): string {
    const width = 30;
    const frac = this.total > 0 ? this.done / this.total : 1;
    const full = Math.round(frac * width);
    return `  ${this.label.padEnd(28)} [${"#".repeat(full)}${".".repeat(width - full)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${this.done}/${this.total}`;
  }

  private draw(): void {
    if (!this.enabled) return;
    if (this.tty) {
      process.stderr.write(`\r${this.bar()}\x1b[K`);
      return;
    }
    const decile = Math.floor((this.total > 0 ? this.done / this.total : 1) * 10);
    if (decile !== this.lastDecile) {
      this.lastDecile = decile;
      process.stderr.write(`${this.bar()}\n`);
    }
  }
}
