/**
 * The terminal: one readline prompt at the bottom, and lines printed above it. Printing clears the prompt (all
 * the rows a long, wrapped input takes), writes the line, and lets readline redraw the prompt with what was
 * being typed and the cursor where it was: incoming messages never garble the line being typed.
 * Without a terminal (piped input or output) it prints plain lines and reads plain lines.
 */
import { clearScreenDown, createInterface, cursorTo, type Interface, moveCursor } from 'node:readline';
import { stripVTControlCharacters } from 'node:util';

export interface ScreenOptions {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly onLine: (line: string) => void;
  readonly onClose: () => void;
  /** Ctrl-C. */
  readonly onInterrupt: () => void;
  /** Whether a submitted line is erased from the screen (a message, which the chat shows itself). */
  readonly eraseSubmitted?: (line: string) => boolean;
  /** Called on every key press (terminal only), after readline updated the line. */
  readonly onKey?: (line: string) => void;
}

export class Screen {
  private readonly rl: Interface;
  private readonly tty: boolean;
  private prompt = '> ';
  /** The last printed line, if it may still be rewritten in place (one row, nothing printed after it). */
  private last: { readonly key: string } | undefined;

  constructor(private readonly options: ScreenOptions) {
    this.tty = options.output.isTTY === true && process.env.TERM !== 'dumb';
    this.rl = createInterface({
      input: options.input,
      output: options.output,
      terminal: this.tty,
      historySize: 200,
      prompt: this.prompt,
    });
    this.rl.on('line', (line) => {
      if (this.tty) {
        if (options.eraseSubmitted?.(line)) this.eraseSubmitted(line);
        this.last = undefined;
        this.rl.prompt();
      }
      options.onLine(line);
    });
    this.rl.on('close', () => options.onClose());
    this.rl.on('SIGINT', () => options.onInterrupt());
    if (this.tty && options.onKey) {
      const onKey = options.onKey;
      options.input.on('keypress', () => setImmediate(() => onKey(this.rl.line)));
    }
  }

  get isTerminal(): boolean {
    return this.tty;
  }

  /** Prints lines above the prompt. `key` names the line for a later `replace`. */
  print(lines: string | readonly string[], key?: string): void {
    const all = typeof lines === 'string' ? [lines] : lines;
    if (all.length === 0) return;
    if (!this.tty) {
      for (const line of all) this.options.output.write(`${stripVTControlCharacters(line)}\n`);
      return;
    }
    const rows = this.clearPrompt();
    this.options.output.write(`${all.join('\n')}\n`);
    const lastLine = all[all.length - 1] ?? '';
    this.last = key !== undefined && this.fitsOneRow(lastLine) ? { key } : undefined;
    this.redraw(rows);
  }

  /**
   * Rewrites the line printed with `key` if it is still the last one and took one row (a pending message that got
   * its ack); otherwise returns false and the caller prints something instead.
   */
  replace(key: string, line: string): boolean {
    if (!this.tty || this.last?.key !== key || !this.fitsOneRow(line)) return false;
    const rows = this.clearPrompt();
    moveCursor(this.options.output, 0, -1);
    cursorTo(this.options.output, 0);
    clearScreenDown(this.options.output);
    this.options.output.write(`${line}\n`);
    this.redraw(rows);
    return true;
  }

  setPrompt(prompt: string): void {
    if (prompt === this.prompt) return;
    this.prompt = prompt;
    if (!this.tty) {
      this.rl.setPrompt(prompt);
      return;
    }
    const rows = this.clearPrompt(); // measured with the prompt on screen, before it changes
    this.rl.setPrompt(prompt);
    this.redraw(rows);
  }

  /** Shows the prompt (once at start; after that, printing keeps it shown). */
  start(): void {
    if (this.tty) this.rl.prompt();
  }

  close(): void {
    this.rl.close();
  }

  /** Moves to the first row of the prompt and erases it and everything below; returns the rows it went up. */
  private clearPrompt(): number {
    const { rows } = this.rl.getCursorPos();
    if (rows > 0) moveCursor(this.options.output, 0, -rows);
    cursorTo(this.options.output, 0);
    clearScreenDown(this.options.output);
    return rows;
  }

  /**
   * readline's redraw first moves up by the row its cursor was on at its last draw (`prevRows`, its own record),
   * and `clearPrompt` already went up: as many blank rows below what we printed give it those rows to move up
   * through. Its record can be behind the screen (text pasted in one chunk is echoed without redraws), so it is
   * read rather than assumed; without it, the rows cleared are the best guess.
   */
  private redraw(rowsCleared: number): void {
    const recorded = (this.rl as unknown as { prevRows?: unknown }).prevRows;
    const up = typeof recorded === 'number' && recorded >= 0 ? recorded : rowsCleared;
    if (up > 0) this.options.output.write('\n'.repeat(up));
    this.rl.prompt(true);
  }

  /**
   * readline has echoed the line and moved to the next row: go back up over the rows the prompt and the line
   * took, when their width is known for sure.
   */
  private eraseSubmitted(line: string): void {
    const columns = this.options.output.columns ?? 80;
    const plain = stripVTControlCharacters(this.prompt + line);
    // At an exact multiple of the width, whether the terminal has wrapped yet is not known.
    if (!ONE_COLUMN.test(plain) || plain.length % columns === 0) return;
    const rows = Math.max(1, Math.ceil(plain.length / columns));
    moveCursor(this.options.output, 0, -rows);
    cursorTo(this.options.output, 0);
    clearScreenDown(this.options.output);
  }

  private fitsOneRow(line: string): boolean {
    const columns = this.options.output.columns ?? 80;
    const plain = stripVTControlCharacters(line);
    return ONE_COLUMN.test(plain) && plain.length < columns;
  }
}

/** Text whose width in columns is its length: printable ASCII and the few symbols the chat prints. */
const ONE_COLUMN = /^[\x20-\x7e…✓✗⏎•●○─]*$/;
