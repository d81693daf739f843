/** The chat page's components: sign-in, the conversation list, one conversation, and the composer. */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { type ConversationEvent, HeraldClient, LocalStorageStore } from '../client/index';
import { UserId } from '../protocol';
import { ChatStore, type ConversationItem, messageOf, type Thread } from './chat-store';
import { fetchConfig, fetchToken } from './dev-server-api';
import { describe, preview, seenMarker, seenText, timeline, typingText } from './view';

const LAST_USER_KEY = 'herald-web:user';

export function App() {
  const [store, setStore] = useState<ChatStore | undefined>();
  useEffect(() => () => store?.dispose(), [store]);
  if (!store) return <SignIn onSignedIn={setStore} />;
  return (
    <Chat
      store={store}
      onSignOut={() => {
        setStore(undefined);
        history.replaceState(null, '', location.pathname);
      }}
    />
  );
}

async function signIn(userId: string): Promise<ChatStore> {
  const [config] = await Promise.all([fetchConfig(), fetchToken(userId)]); // a bad user id fails here
  const client = new HeraldClient({
    url: config.wsUrl,
    token: () => fetchToken(userId),
    userId,
    // Per tab (sessionStorage): a reload keeps positions and unsent messages; two tabs do not share them.
    store: new LocalStorageStore(sessionStorage, `herald:${userId}`),
  });
  const store = new ChatStore(client, userId, () => document.visibilityState === 'visible');
  void client.connect().catch(() => undefined); // the store shows the connection state and errors
  return store;
}

function SignIn({ onSignedIn }: { onSignedIn: (store: ChatStore) => void }) {
  const fromUrl = new URLSearchParams(location.search).get('user');
  const [user, setUser] = useState(fromUrl ?? localStorage.getItem(LAST_USER_KEY) ?? '');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);

  const submit = async (userId: string) => {
    const parsed = UserId.safeParse(userId.trim());
    if (!parsed.success) {
      setError('A user id is 1 to 128 letters, digits or _ . @ | + = - characters.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const store = await signIn(parsed.data);
      localStorage.setItem(LAST_USER_KEY, parsed.data);
      history.replaceState(null, '', `?user=${encodeURIComponent(parsed.data)}`);
      onSignedIn(store);
    } catch (e) {
      setError(`Could not sign in: ${messageOf(e)}`);
      setBusy(false);
    }
  };

  // The page's one field takes the cursor; `?user=alice` signs in at once (two windows, two users, no typing).
  useEffect(() => {
    inputRef.current?.focus();
    if (fromUrl) void submit(fromUrl);
  }, []);

  return (
    <main class="sign-in">
      <h1>Herald chat</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit(user);
        }}
      >
        <label for="user-id">User id</label>
        <input
          id="user-id"
          name="user"
          autocomplete="username"
          ref={inputRef}
          required
          maxLength={128}
          value={user}
          aria-invalid={error ? true : undefined}
          aria-describedby="sign-in-help"
          onInput={(e) => setUser(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p id="sign-in-help" class={error ? 'error' : 'hint'} role={error ? 'alert' : undefined}>
          {error ??
            'Local development: any user id works, the local server mints its token. Try alice here and bob in another window.'}
        </p>
      </form>
    </main>
  );
}

/** Re-renders a component whenever the store changes. */
function useStore(store: ChatStore): number {
  const [, setVersion] = useState(store.version);
  useEffect(() => store.subscribe(() => setVersion(store.version)), [store]);
  useEffect(() => {
    const onVisible = () => store.markVisibleRead();
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [store]);
  return store.version;
}

const CONNECTION_TEXT = {
  connecting: 'Connecting…',
  online: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
} as const;

function Chat({ store, onSignOut }: { store: ChatStore; onSignOut: () => void }) {
  useStore(store);
  const active = store.activeId ? store.conversations.get(store.activeId) : undefined;
  return (
    <div class="chat" data-view={active ? 'conversation' : 'list'}>
      <header class="top">
        <h1>Herald chat</h1>
        <p class="me">
          Signed in as <strong>{store.me}</strong>
          <span class={`connection ${store.connection}`} role="status">
            {CONNECTION_TEXT[store.connection]}
          </span>
        </p>
        <button type="button" class="link" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {store.notice && (
        <div class="notice" role="alert">
          <span>{store.notice}</span>
          <button type="button" class="link" onClick={() => store.dismissNotice()}>
            Dismiss
          </button>
        </div>
      )}
      <aside class="sidebar">
        <NewChat store={store} />
        <ConversationList store={store} />
      </aside>
      <main class="conversation">
        {active ? (
          <ConversationView key={active.id} store={store} item={active} thread={store.thread(active.id)} />
        ) : (
          <p class="empty">Choose a conversation, or start one with a user id.</p>
        )}
      </main>
    </div>
  );
}

function NewChat({ store }: { store: ChatStore }) {
  const [peer, setPeer] = useState('');
  const [groupName, setGroupName] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState<string | undefined>();

  const startDirect = (e: Event) => {
    e.preventDefault();
    const parsed = UserId.safeParse(peer.trim());
    if (!parsed.success || parsed.data === store.me) {
      setError(parsed.success ? 'That is you: pick another user.' : 'Not a valid user id.');
      return;
    }
    setError(undefined);
    setPeer('');
    void store.startDirect(parsed.data);
  };

  const createGroup = async (e: Event) => {
    e.preventDefault();
    const ids = members.split(/[\s,]+/).filter((m) => m !== '');
    const bad = ids.find((m) => !UserId.safeParse(m).success);
    if (groupName.trim() === '' || bad !== undefined) {
      setError(bad ? `Not a valid user id: ${bad}` : 'A group needs a name.');
      return;
    }
    setError(undefined);
    try {
      await store.createGroup(groupName, ids);
      setGroupName('');
      setMembers('');
    } catch (err) {
      setError(`Could not create the group: ${messageOf(err)}`);
    }
  };

  return (
    <section class="new-chat" aria-labelledby="new-chat-title">
      <h2 id="new-chat-title">New conversation</h2>
      <form onSubmit={startDirect}>
        <label for="direct-user">Direct chat with user id</label>
        <div class="row">
          <input
            id="direct-user"
            value={peer}
            maxLength={128}
            autocomplete="off"
            onInput={(e) => setPeer(e.currentTarget.value)}
          />
          <button type="submit">Chat</button>
        </div>
      </form>
      <details>
        <summary>Create a group</summary>
        <form onSubmit={createGroup}>
          <label for="group-name">Group name</label>
          <input
            id="group-name"
            value={groupName}
            maxLength={100}
            onInput={(e) => setGroupName(e.currentTarget.value)}
          />
          <label for="group-members">Members (user ids, separated by commas or spaces)</label>
          <input
            id="group-members"
            value={members}
            autocomplete="off"
            onInput={(e) => setMembers(e.currentTarget.value)}
          />
          <button type="submit">Create group</button>
        </form>
      </details>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

function PresenceDot({ store, userId }: { store: ChatStore; userId: string }) {
  const online = store.presence.get(userId)?.online;
  const label = online === undefined ? 'presence unknown' : online ? 'online' : 'offline';
  return (
    <span
      class={`dot ${online === undefined ? 'unknown' : online ? 'online' : 'offline'}`}
      role="img"
      aria-label={label}
      title={label}
    />
  );
}

function ConversationList({ store }: { store: ChatStore }) {
  const items = store.sortedConversations();
  return (
    <nav class="conversations" aria-labelledby="conversations-title">
      <h2 id="conversations-title">Conversations</h2>
      {items.length === 0 ? (
        <p class="empty">No conversations yet.</p>
      ) : (
        <ul>
          {items.map((item) => (
            <li key={item.id}>
              <button
                type="button"
                class="conversation-item"
                aria-current={item.id === store.activeId ? 'true' : undefined}
                onClick={() => void store.open(item.id)}
              >
                <span class="title">
                  {item.peer && <PresenceDot store={store} userId={item.peer} />}
                  {item.title}
                </span>
                {item.unread > 0 && <span class="badge">{`${item.unread} unread`}</span>}
                <span class="preview">{preview(item, store.me)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </nav>
  );
}

function ConversationView({
  store,
  item,
  thread,
}: {
  store: ChatStore;
  item: ConversationItem;
  thread: Thread;
}) {
  const listRef = useRef<HTMLOListElement>(null);
  const composerRef = useRef<HTMLTextAreaElement>(null);
  const stickToBottom = useRef(true);
  const keepFromBottom = useRef<number | undefined>(undefined);
  const [announcement, setAnnouncement] = useState('');
  const lastAnnounced = useRef(0);

  const events = timeline(thread);
  const newest = events[events.length - 1];

  // Opening a conversation puts the cursor in its composer.
  useEffect(() => composerRef.current?.focus(), [item.id]);

  // Announce incoming messages to screen readers (not history pages, not your own).
  useEffect(() => {
    if (!newest || !thread.loaded) return;
    if (lastAnnounced.current === 0) {
      lastAnnounced.current = newest.seq;
      return;
    }
    if (newest.seq <= lastAnnounced.current) return;
    lastAnnounced.current = newest.seq;
    if (newest.kind === 'message' && newest.actorId !== store.me)
      setAnnouncement(`${newest.actorId}: ${newest.text}`);
  }, [newest?.seq, thread.loaded]);

  // Stay at the bottom for new messages; stay in place when an older page is added on top.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    if (keepFromBottom.current !== undefined) {
      list.scrollTop = list.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = undefined;
    } else if (stickToBottom.current) {
      list.scrollTop = list.scrollHeight;
    }
  });

  const loadOlder = async () => {
    const list = listRef.current;
    keepFromBottom.current = list ? list.scrollHeight - list.scrollTop : undefined;
    const added = await store.loadOlder();
    if (added === 0) keepFromBottom.current = undefined;
    // The button goes away with the first page: keep the cursor somewhere useful.
    if (!thread.hasOlder) composerRef.current?.focus();
  };

  const typing = typingText(thread);
  const seen = seenMarker(events, thread, store.me);

  return (
    <section class="thread" aria-labelledby="thread-title">
      <header class="thread-header">
        <button type="button" class="back link" onClick={() => store.close()}>
          ← Conversations
        </button>
        <h2 id="thread-title">
          {item.peer && <PresenceDot store={store} userId={item.peer} />}
          {item.title}
        </h2>
      </header>
      <ol
        class="messages"
        ref={listRef}
        aria-label={`Messages with ${item.title}`}
        aria-busy={thread.loading ? 'true' : undefined}
        onScroll={(e) => {
          const el = e.currentTarget;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {thread.hasOlder && (
          <li class="older">
            <button type="button" onClick={() => void loadOlder()} disabled={thread.loading}>
              {thread.loading ? 'Loading…' : 'Load older messages'}
            </button>
          </li>
        )}
        {thread.loaded && events.length === 0 && thread.pending.length === 0 && (
          <li class="system">No messages yet: say hello.</li>
        )}
        {events.map((event) => (
          <EventLine
            key={event.seq}
            event={event}
            me={store.me}
            seen={seen?.seq === event.seq ? seenText(seen.by, item.kind) : undefined}
          />
        ))}
        {thread.pending.map((p) => (
          <li key={p.clientMessageId} class="message mine pending" data-pending="true">
            <span class="author">You</span>
            <p class="text">{p.text}</p>
            <span class="meta">{p.failed ? `Not sent: ${p.failed}` : 'Sending…'}</span>
          </li>
        ))}
      </ol>
      <p class="typing" aria-hidden={typing === '' ? 'true' : undefined}>
        {typing === '' ? '\u00a0' : typing}
      </p>
      <div class="sr-only" aria-live="polite" aria-atomic="true">
        {announcement}
      </div>
      <Composer store={store} inputRef={composerRef} title={item.title} />
    </section>
  );
}

function EventLine({ event, me, seen }: { event: ConversationEvent; me: string; seen: string | undefined }) {
  const time = new Date(event.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (event.kind !== 'message') {
    return (
      <li class="system" data-seq={event.seq}>
        {event.actorId === me ? 'You' : event.actorId} {describe(event, me)}
      </li>
    );
  }
  const mine = event.actorId === me;
  return (
    <li class={`message ${mine ? 'mine' : 'theirs'}`} data-seq={event.seq}>
      <span class="author">{mine ? 'You' : event.actorId}</span>
      <p class={`text${event.recalled ? ' recalled' : ''}`}>
        {event.recalled ? 'Message recalled' : event.text}
      </p>
      <span class="meta">
        <time dateTime={new Date(event.at).toISOString()}>{time}</time>
        {event.editedAt && !event.recalled ? ' · edited' : ''}
      </span>
      {seen && <span class="seen">{seen}</span>}
    </li>
  );
}

function Composer({
  store,
  inputRef,
  title,
}: {
  store: ChatStore;
  inputRef: { current: HTMLTextAreaElement | null };
  title: string;
}) {
  const [text, setText] = useState('');
  const send = () => {
    if (text.trim() === '') return;
    store.send(text);
    setText('');
    inputRef.current?.focus();
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label for="composer-text" class="sr-only">
        Message to {title}
      </label>
      <textarea
        id="composer-text"
        ref={inputRef}
        rows={2}
        maxLength={4000}
        placeholder="Write a message (Enter sends, Shift+Enter for a new line)"
        value={text}
        onInput={(e) => {
          setText(e.currentTarget.value);
          store.typed();
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <button type="submit">Send</button>
    </form>
  );
}
