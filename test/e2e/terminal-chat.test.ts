/**
 * The terminal chat (`npm run chat`), driven in a real terminal: tmux runs it at 120x40, the test types with
 * send-keys and reads the screen with capture-pane, while bob talks to it with a plain WebSocket client.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../local/state';
import { LIMITS } from '../../protocol';
import { directId, TestClient, tokenFor, unique } from './client';

const run = promisify(execFile);

/** A tmux server of its own (its own socket), so nothing else running tmux on the machine is touched. */
class Terminal {
  private readonly socket = `herald-chat-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private readonly target = '=chat:';

  private tmux(...args: string[]): Promise<{ stdout: string }> {
    return run('tmux', ['-L', this.socket, ...args]);
  }

  /** Runs `command` in a new 120x40 terminal; when it ends, the terminal says so and stays open. */
  async start(command: readonly string[]): Promise<void> {
    const line = `${command.map(shellQuote).join(' ')}; echo "[chat exited with code $?]"; sleep 600`;
    await this.tmux('new-session', '-d', '-s', 'chat', '-x', '120', '-y', '40', '-c', REPO_ROOT, line);
  }

  /** Types text literally (no key names), without Enter. */
  async type(text: string): Promise<void> {
    await this.tmux('send-keys', '-t', this.target, '-l', '--', text);
  }

  async enter(text = ''): Promise<void> {
    if (text) await this.type(text);
    await this.tmux('send-keys', '-t', this.target, 'Enter');
  }

  /** The visible screen, wrapped lines joined. */
  async screen(): Promise<string> {
    return (await this.tmux('capture-pane', '-p', '-J', '-t', this.target)).stdout;
  }

  /** The line the cursor is on: the prompt and what is being typed. */
  async promptLine(): Promise<string> {
    const lines = (await this.screen()).split('\n').filter((l) => l.trim() !== '');
    return lines.at(-1) ?? '';
  }

  /** Polls the screen until it matches, or fails with what the screen shows. */
  async waitFor(pattern: string | RegExp, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (typeof pattern === 'string' ? screen.includes(pattern) : pattern.test(screen)) return screen;
      if (Date.now() > deadline)
        throw new Error(
          `the terminal did not show ${String(pattern)} within ${timeoutMs} ms. It shows:\n${screen}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async stop(): Promise<void> {
    await this.tmux('kill-server').catch(() => undefined);
  }
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The chat's options that point it at the test's Herald and let it mint tokens there. */
async function targetOptions(user: string): Promise<string[]> {
  const target = inject('heraldTarget');
  const options = ['--url', target.wsUrl, '--no-color'];
  if ('preMinted' in target.tokens) return [...options, '--token', await tokenFor(user)];
  const t = target.tokens;
  return [
    ...options,
    '--user',
    user,
    '--secret-arn',
    t.secretArn,
    '--region',
    t.region,
    ...(t.endpoint ? ['--secrets-endpoint', t.endpoint] : []),
    '--issuer',
    t.issuer,
    '--audience',
    t.audience,
  ];
}

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe('terminal chat (npm run chat) in tmux', { timeout: 90_000 }, () => {
  const alice = unique('alice');
  const bob = unique('bob');
  const carol = unique('carol');
  const dm = directId(alice, bob);
  const terminal = new Terminal();
  let bobClient: TestClient;

  beforeAll(async () => {
    if (!hasTmux)
      throw new Error(
        'tmux is not installed, and the terminal chat test drives the chat in tmux: apt-get install -y tmux',
      );
    bobClient = await TestClient.connect(bob);
    // History for alice to find: four messages from bob, each stored before the next is sent.
    for (const [i, text] of ['older 1', 'older 2', 'older 3', 'latest from bob'].entries()) {
      bobClient.sendMessage(dm, `seed${i}`, text);
      await bobClient.until(() =>
        expect(bobClient.acks().filter((a) => a.conversationId === dm)).toHaveLength(i + 1),
      );
    }
    await terminal.start([
      'npm',
      'run',
      '-s',
      'chat',
      '--',
      ...(await targetOptions(alice)),
      '--page-size',
      '3',
    ]);
    await terminal.waitFor(`Connected as ${alice}`, 120_000);
  }, 180_000);

  afterAll(async () => {
    await terminal.stop();
    await bobClient?.close();
  });

  it('lists the conversations with their unread counts', async () => {
    await terminal.waitFor(new RegExp(`1 +. @${bob} +4 unread +${bob}: latest from bob`));
  });

  it('opens a conversation with its recent history, pages back with /more, and marks what it shows read', async () => {
    await terminal.enter('/open 1');
    const screen = await terminal.waitFor(new RegExp(`#4 \\d\\d:\\d\\d ${bob}: latest from bob`));
    expect(screen).toMatch(new RegExp(`#2 \\d\\d:\\d\\d ${bob}: older 2`));
    expect(screen).not.toMatch(/#1 \d\d:\d\d/); // one page of 3
    await bobClient.until(() =>
      expect(bobClient.frames).toContainEqual(
        expect.objectContaining({ type: 'receipt', userId: alice, readSeq: 4 }),
      ),
    );
    await terminal.enter('/more');
    await terminal.waitFor(new RegExp(`#1 \\d\\d:\\d\\d ${bob}: older 1`));
    await terminal.waitFor('the beginning of the conversation');
  });

  it('sends what is typed: bob receives it, and the chat shows its seq once acknowledged', async () => {
    await terminal.enter('hello from the terminal');
    await terminal.waitFor(new RegExp(`#5 \\d\\d:\\d\\d ${alice}: hello from the terminal ✓`));
    await bobClient.until(() =>
      expect(bobClient.messages(dm)).toContainEqual(
        expect.objectContaining({ seq: 5, actorId: alice, text: 'hello from the terminal' }),
      ),
    );
  });

  it('shows typing, live replies and read state without garbling the line being typed', async () => {
    await terminal.type('draft in progress');
    await terminal.waitFor(`${bob}> draft in progress`);
    bobClient.send({ action: 'typing', v: 1, conversationId: dm, state: 'start' });
    await terminal.waitFor(`[${bob} is typing…] ${bob}> draft in progress`);

    bobClient.send({ action: 'markRead', v: 1, conversationId: dm, seq: 5 });
    await terminal.waitFor(`✓ seen by ${bob}`);
    bobClient.sendMessage(dm, 'reply1', 'reply from bob');
    await terminal.waitFor(new RegExp(`#6 \\d\\d:\\d\\d ${bob}: reply from bob`));
    // The reply is printed above the prompt, which still holds the draft (and bob no longer types).
    expect(await terminal.promptLine()).toBe(`${bob}> draft in progress`);

    await terminal.enter(' finished');
    await terminal.waitFor(new RegExp(`#7 \\d\\d:\\d\\d ${alice}: draft in progress finished ✓`));
    await bobClient.until(() =>
      expect(bobClient.messages(dm)).toContainEqual(
        expect.objectContaining({ seq: 7, actorId: alice, text: 'draft in progress finished' }),
      ),
    );
  });

  it('keeps a long, wrapped draft whole when lines arrive, and shows a long message pending, then sent', async () => {
    const long = Array.from({ length: 14 }, (_, i) => `wrapword${String(i).padStart(2, '0')}`).join(' ');
    await terminal.type(long); // typed in one chunk: readline echoes it without redrawing
    // Herald drops a typing frame within typingIntervalMs of the previous one (bob typed in the last test).
    await new Promise((resolve) => setTimeout(resolve, LIMITS.typingIntervalMs + 100));
    bobClient.send({ action: 'typing', v: 1, conversationId: dm, state: 'start' });
    await terminal.waitFor(`[${bob} is typing…] ${bob}> ${long}`);
    bobClient.sendMessage(dm, 'reply3', 'while you write');
    // The reply goes right under the previous line (no blank row), and the draft stays whole under it.
    await terminal.waitFor(
      new RegExp(`\\S.*\\n#8 \\d\\d:\\d\\d ${bob}: while you write\\n${bob}> ${long}\\n`),
    );
    expect(await terminal.promptLine()).toBe(`${bob}> ${long}`);

    await terminal.enter();
    // Too long to be rewritten in place (it wraps): the pending line stays, and the ack gets its own line.
    await terminal.waitFor(`${alice}: ${long} (sending)`);
    await terminal.waitFor(`✓ #9 sent: you: wrapword00`);
    await bobClient.until(() =>
      expect(bobClient.messages(dm)).toContainEqual(expect.objectContaining({ seq: 9, text: long })),
    );
  });

  it('creates a group with /group and talks in it', async () => {
    await terminal.enter(`/group "Tea Time" ${bob} ${carol}`);
    await terminal.waitFor(
      new RegExp(`#1 \\d\\d:\\d\\d ${alice} created the group "Tea Time" with .*${bob}`),
    );
    await bobClient.until(() =>
      expect(bobClient.events()).toContainEqual(
        expect.objectContaining({ kind: 'group.created', name: 'Tea Time', actorId: alice }),
      ),
    );
    const group = bobClient.events().find((e) => e.kind === 'group.created')?.conversationId ?? '';
    await terminal.enter('hello group');
    await terminal.waitFor(new RegExp(`#2 \\d\\d:\\d\\d ${alice}: hello group ✓`));
    await bobClient.until(() =>
      expect(bobClient.messages(group)).toContainEqual(expect.objectContaining({ text: 'hello group' })),
    );
    // A message in a conversation that is not open is announced, with its unread count.
    bobClient.sendMessage(dm, 'reply2', 'back in the dm');
    await terminal.waitFor(`• ${bob}: back in the dm (1 unread: /open`);
  });

  it('/quit leaves cleanly', async () => {
    await terminal.enter('/quit');
    await terminal.waitFor('[chat exited with code 0]');
  });
});

describe('terminal chat options', () => {
  const chat = (...args: string[]) =>
    spawnSync('npm', ['run', '-s', 'chat', '--', ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('--help prints the usage; invalid options exit with code 2 and say which', () => {
    const help = chat('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: npm run chat -- --user <userId>');
    const bad = chat('--user', 'alice', '--url', 'http://example.com', '--page-size', '0');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--url: must be a ws:// or wss:// URL');
    expect(bad.stderr).toContain('--page-size: must be at least 1');
    const unknown = chat('--colour');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--colour'");
  }, 120_000);
});
