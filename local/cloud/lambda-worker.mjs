/**
 * The bootstrap of one local Lambda execution environment: a `worker_threads` Worker started by
 * `lambda-runtime.ts`. Plain JavaScript so that the Worker loads it as it is, whatever runs the parent (node,
 * tsx, vitest). It plays the part of the Lambda Node.js runtime:
 *
 * - init (cold start): patches `node:http`/`node:https` so that requests to redirected hosts (AWS endpoints) go
 *   to local services, lets bare `@aws-sdk/*` and `@smithy/*` imports that the asset leaves out of its bundle
 *   fall back to this repository's node_modules (the Lambda runtime provides the SDK), then imports the handler
 *   module once and reports `ready` (or `initError`);
 * - each `invoke` message: calls the handler with the event and a Lambda `context`, async or callback style, and
 *   posts back the JSON of the result or the error's `errorType`/`errorMessage`.
 *
 * An uncaught exception or unhandled rejection kills the environment, as on Lambda: the parent sees the Worker
 * exit and starts a fresh one for the next invocation.
 */
import http from 'node:http';
import https from 'node:https';
import * as nodeModule from 'node:module';
import path from 'node:path';
import { pathToFileURL, urlToHttpOptions } from 'node:url';
import { format } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * @typedef {{ hostPattern: string, target: string }} HostRedirect
 * @typedef {{
 *   codeDir: string,
 *   handler: string,
 *   functionName: string,
 *   invokedFunctionArn: string,
 *   memoryMb: number,
 *   logGroupName: string,
 *   logStreamName: string,
 *   nodeOptions: string | undefined,
 *   redirects: HostRedirect[],
 * }} WorkerConfig
 * @typedef {{ type: 'invoke', requestId: string, event: string, deadlineMs: number }} InvokeMessage
 * @typedef {{ type: 'profileStart', samplingIntervalUs: number } | { type: 'profileStop' }} ProfileMessage
 */

const port = parentPort;
if (!port) throw new Error('lambda-worker.mjs runs only as a worker_threads Worker');
/** @type {WorkerConfig} */
const config = workerData;

// --- Output ------------------------------------------------------------------------------------------------

/**
 * What the function writes to stdout and stderr goes to the parent in this runtime's own messages, not through
 * the Worker's stdio streams: those post a message per write and the parent posts one back per read (flow
 * control), so every log line, and the flush before each response, cost two cross-thread messages and a wake
 * of each thread (7% of the bench's main thread at 1:1 saturation, measured with --cpu-prof). Writes are
 * collected and sent together: with the response, or at the next turn of the event loop.
 * @type {['stdout' | 'stderr', string][]}
 */
const output = [];
/** @type {NodeJS.Immediate | undefined} */
let outputFlush;
captureOutput();

function captureOutput() {
  for (const name of /** @type {const} */ (['stdout', 'stderr'])) {
    const stream = process[name];
    /** @param {unknown} chunk @param {unknown} [encoding] @param {unknown} [callback] */
    const write = (chunk, encoding, callback) => {
      const done = typeof encoding === 'function' ? encoding : callback;
      const text =
        typeof chunk === 'string' ? chunk : Buffer.from(/** @type {Uint8Array} */ (chunk)).toString('utf8');
      if (text.length > 0) {
        output.push([name, text]);
        outputFlush ??= setImmediate(sendOutput);
      }
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
    stream.write = /** @type {typeof stream.write} */ (write);
  }
  // process.exit() in the function: what it wrote still reaches the parent.
  process.on('exit', sendOutput);
}

/** The output not yet sent, taken for a message to the parent. */
function takeOutput() {
  if (outputFlush) clearImmediate(outputFlush);
  outputFlush = undefined;
  return output.splice(0);
}

function sendOutput() {
  const chunks = takeOutput();
  if (chunks.length > 0) port?.postMessage({ type: 'output', output: chunks });
}

/** Posted before the Worker dies of an uncaught exception, so the parent can tell what killed it. */
process.on('uncaughtExceptionMonitor', (error, origin) => {
  const { errorType, errorMessage } = describeError(error);
  const what = origin === 'unhandledRejection' ? 'Unhandled Promise Rejection' : 'Uncaught Exception';
  logLine(
    process.stderr,
    'ERROR',
    `${what} \t${JSON.stringify({ errorType, errorMessage, stack: stackOf(error) })}`,
  );
  port.postMessage({ type: 'fatal', origin, errorType, errorMessage, output: takeOutput() });
});

// NODE_OPTIONS is kept out of the Worker's `env` (a Worker parses it and throws on options it does not allow):
// the handler still sees it, and --enable-source-maps, the one option that matters for a function, is honoured.
if (config.nodeOptions !== undefined) {
  process.env.NODE_OPTIONS = config.nodeOptions;
  if (config.nodeOptions.split(/\s+/).includes('--enable-source-maps')) process.setSourceMapsEnabled(true);
}

/** @type {string | undefined} The request id of the invocation running, for the log lines. */
let currentRequestId;
patchConsole();
installRedirects(config.redirects);
installSdkFallback();

/** @type {Function} */
let handler;
try {
  handler = await loadHandler(config.codeDir, config.handler);
} catch (error) {
  const { errorType, errorMessage } = describeInitError(error);
  logLine(process.stderr, 'ERROR', JSON.stringify({ errorType, errorMessage, stack: stackOf(error) }));
  port.postMessage({ type: 'initError', errorType, errorMessage, output: takeOutput() });
  process.exit(1);
}
port.postMessage({ type: 'ready', output: takeOutput() });
port.on('message', (/** @type {InvokeMessage | ProfileMessage} */ message) => {
  if (message.type === 'invoke') invoke(message);
  else if (message.type === 'profileStart') void startProfile(message.samplingIntervalUs);
  else if (message.type === 'profileStop') void stopProfile();
});

// --- Invocation ---------------------------------------------------------------------------------------------

/** @param {InvokeMessage} message */
function invoke({ requestId, event: eventJson, deadlineMs }) {
  currentRequestId = requestId;
  let settled = false;
  /** Set when a callback-style handler has called back and waits for the event loop to empty. */
  let callbackOutcome;
  /** @param {unknown} error @param {unknown} result */
  const finish = (error, result) => {
    if (settled) return;
    settled = true;
    stopWaitingForEmptyLoop();
    respond(requestId, error, result);
  };
  /** @param {unknown} [error] @param {unknown} [result] */
  const callback = (error, result) => {
    if (settled || callbackOutcome) return;
    callbackOutcome = { error, result };
    // Like the Lambda runtime: by default the response waits until the event loop is empty.
    if (context.callbackWaitsForEmptyEventLoop) waitForEmptyLoop(() => finish(error, result));
    else finish(error, result);
  };
  const context = {
    functionName: config.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: config.invokedFunctionArn,
    memoryLimitInMB: String(config.memoryMb),
    awsRequestId: requestId,
    logGroupName: config.logGroupName,
    logStreamName: config.logStreamName,
    callbackWaitsForEmptyEventLoop: true,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    /** @param {unknown} [error] @param {unknown} [result] */
    done: (error, result) => callback(error, result),
    /** @param {unknown} [result] */
    succeed: (result) => callback(null, result),
    /** @param {unknown} error */
    fail: (error) => callback(error ?? new Error('handled')),
  };

  let returned;
  try {
    returned = handler(JSON.parse(eventJson), context, callback);
  } catch (error) {
    finish(error, undefined);
    return;
  }
  if (isThenable(returned)) {
    // An async handler's response goes as soon as its promise settles (no waiting for the event loop).
    returned.then(
      (result) => finish(null, result),
      (error) => finish(error ?? new Error('The handler rejected with no reason'), undefined),
    );
  } else if (!callbackOutcome) {
    // A non-async handler that has not called back yet: it may still do so; if the event loop empties first,
    // Lambda answers null.
    waitForEmptyLoop(() => finish(callbackOutcome?.error ?? null, callbackOutcome?.result));
  }
}

/** @param {string} requestId @param {unknown} error @param {unknown} result */
function respond(requestId, error, result) {
  let message;
  if (error !== null && error !== undefined) {
    const { errorType, errorMessage } = describeError(error);
    logLine(
      process.stderr,
      'ERROR',
      `Invoke Error \t${JSON.stringify({ errorType, errorMessage, stack: stackOf(error) })}`,
    );
    message = { type: 'error', requestId, errorType, errorMessage };
  } else {
    try {
      message = { type: 'result', requestId, payload: JSON.stringify(result) ?? 'null' };
    } catch (serializationError) {
      const { errorMessage } = describeError(serializationError);
      message = {
        type: 'error',
        requestId,
        errorType: 'Runtime.MarshalError',
        errorMessage: `Unable to stringify response body: ${errorMessage}`,
      };
    }
  }
  // The lines logged during the invocation travel with the response, so the parent logs them before it.
  currentRequestId = undefined;
  port.postMessage({ ...message, output: takeOutput() });
}

let emptyLoopWaiter;
/**
 * Calls `then` when nothing but this runtime keeps the worker's event loop alive (the Lambda runtime does the
 * same with `beforeExit`): the port to the parent stops counting until then.
 * @param {() => void} then
 */
function waitForEmptyLoop(then) {
  stopWaitingForEmptyLoop();
  emptyLoopWaiter = () => {
    stopWaitingForEmptyLoop();
    then();
  };
  process.once('beforeExit', emptyLoopWaiter);
  port.unref();
}
function stopWaitingForEmptyLoop() {
  if (!emptyLoopWaiter) return;
  process.removeListener('beforeExit', emptyLoopWaiter);
  emptyLoopWaiter = undefined;
  port.ref();
}

/** @param {unknown} value @returns {value is PromiseLike<unknown>} */
function isThenable(value) {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (/** @type {{ then?: unknown }} */ (value).then) === 'function'
  );
}

/** Like the Lambda runtime: `errorType` is the error's name, or the type of a thrown non-error. */
function describeError(/** @type {unknown} */ error) {
  if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
    const { name, message } = /** @type {{ name?: unknown, message?: unknown }} */ (error);
    return {
      errorType: typeof name === 'string' && name ? name : 'Error',
      errorMessage: typeof message === 'string' ? message : String(message),
    };
  }
  return { errorType: typeof error, errorMessage: String(error) };
}

/** @param {unknown} error @returns {string[]} */
function stackOf(error) {
  return error instanceof Error && typeof error.stack === 'string' ? error.stack.split('\n') : [];
}

// --- CPU profiling (the bench's --cpu-prof) ----------------------------------------------------------------

/**
 * This thread's V8 CPU profile, through an inspector session on the worker's own isolate: started and stopped
 * by the parent's `profileStart`/`profileStop` messages, answered with a `profile` message carrying the
 * profile and the thread's CPU time over the same window. Nothing of it is loaded unless asked for.
 * @type {{ session: import('node:inspector/promises').Session, cpu: NodeJS.CpuUsage } | undefined}
 */
let profiling;
let profileChain = Promise.resolve();

/** @param {number} samplingIntervalUs */
function startProfile(samplingIntervalUs) {
  profileChain = profileChain
    .then(async () => {
      if (profiling) return;
      const { Session } = await import('node:inspector/promises');
      const session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
      await session.post('Profiler.start');
      profiling = { session, cpu: process.threadCpuUsage() };
    })
    .catch((error) => logLine(process.stderr, 'WARN', `CPU profile: ${describeError(error).errorMessage}`));
}

function stopProfile() {
  profileChain = profileChain.then(async () => {
    const current = profiling;
    profiling = undefined;
    let message = { type: 'profile', profile: undefined, threadCpuMs: undefined };
    try {
      if (current) {
        // Read before the stop: handing the profile over costs CPU the invocations did not use.
        const cpu = process.threadCpuUsage(current.cpu);
        const { profile } = await current.session.post('Profiler.stop');
        message = { type: 'profile', profile, threadCpuMs: (cpu.user + cpu.system) / 1000 };
      }
    } catch (error) {
      logLine(process.stderr, 'WARN', `CPU profile: ${describeError(error).errorMessage}`);
    } finally {
      current?.session.disconnect();
    }
    port.postMessage(message);
  });
}

// --- Init: handler module ----------------------------------------------------------------------------------

/**
 * Resolves `file.export` as the Lambda Node.js runtime does: `<file>.js` (CommonJS unless a package.json says
 * `"type": "module"`), then `<file>.mjs`, then `<file>.cjs`, all loaded through `import()`.
 * @param {string} codeDir @param {string} handlerString
 */
async function loadHandler(codeDir, handlerString) {
  const moduleRoot = path.dirname(handlerString);
  const base = path.basename(handlerString);
  const dot = base.indexOf('.');
  if (dot <= 0 || dot === base.length - 1) {
    throw initError('Runtime.MalformedHandlerName', `Bad handler ${handlerString}`);
  }
  const moduleName = base.slice(0, dot);
  const exportPath = base.slice(dot + 1).split('.');
  const modulePath = path.resolve(codeDir, moduleRoot, moduleName);

  /** @type {Record<string, unknown> | undefined} */
  let namespace;
  for (const extension of ['.js', '.mjs', '.cjs']) {
    const file = modulePath + extension;
    try {
      namespace = await import(pathToFileURL(file).href);
      break;
    } catch (error) {
      if (isNotFound(error, file)) continue;
      throw error;
    }
  }
  if (!namespace) {
    throw initError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${path.join(moduleRoot, moduleName)}'\nRequire stack:\n- ${import.meta.filename}`,
    );
  }

  // A CommonJS module's exports are `default` of its namespace (named exports only when detectable).
  const found =
    dig(namespace, exportPath) ?? dig(/** @type {Record<string, unknown>} */ (namespace.default), exportPath);
  if (typeof found !== 'function') {
    throw initError('Runtime.HandlerNotFound', `${base} is undefined or not exported`);
  }
  return found;
}

/** @param {unknown} root @param {string[]} keys */
function dig(root, keys) {
  let value = root;
  for (const key of keys) {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined;
    value = /** @type {Record<string, unknown>} */ (value)[key];
  }
  return value;
}

/** True when `error` says that `file` itself does not exist (not one of its imports). */
function isNotFound(/** @type {unknown} */ error, /** @type {string} */ file) {
  if (typeof error !== 'object' || error === null) return false;
  const { code, url, message } = /** @type {{ code?: unknown, url?: unknown, message?: unknown }} */ (error);
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return url === pathToFileURL(file).href || (typeof message === 'string' && message.includes(`'${file}'`));
}

/** @param {string} name @param {string} message */
function initError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** The error types the Lambda runtime reports for a failed init. */
function describeInitError(/** @type {unknown} */ error) {
  const described = describeError(error);
  if (described.errorType.startsWith('Runtime.')) return described;
  if (error instanceof SyntaxError) {
    return { errorType: 'Runtime.UserCodeSyntaxError', errorMessage: `${error.name}: ${error.message}` };
  }
  const code =
    typeof error === 'object' && error !== null ? /** @type {{ code?: unknown }} */ (error).code : undefined;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    return { errorType: 'Runtime.ImportModuleError', errorMessage: `Error: ${described.errorMessage}` };
  }
  return described;
}

// --- Init: SDK from the runtime ----------------------------------------------------------------------------

/**
 * Assets built for Lambda usually leave `@aws-sdk/*` out of their bundle (the runtime provides it). When such
 * an import does not resolve from the asset, it resolves from here, i.e. from this repository's node_modules.
 */
function installSdkFallback() {
  // `module.registerHooks` (synchronous, in-thread hooks) arrived in Node 22.15.
  if (typeof nodeModule.registerHooks !== 'function') {
    logLine(process.stderr, 'WARN', `Node ${process.version} has no module.registerHooks: no SDK fallback`);
    return;
  }
  const requireFromRuntime = nodeModule.createRequire(import.meta.url);
  nodeModule.registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        const code = typeof error === 'object' && error !== null ? error.code : undefined;
        const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
        if (!missing || !/^@(aws-sdk|smithy)\//.test(specifier)) throw error;
        if (context.conditions.includes('require')) {
          // require(): the default resolution looks from the requiring module, whatever `parentURL` says.
          let resolved;
          try {
            resolved = requireFromRuntime.resolve(specifier);
          } catch {
            throw error;
          }
          return { url: pathToFileURL(resolved).href, shortCircuit: true };
        }
        try {
          return nextResolve(specifier, { ...context, parentURL: import.meta.url });
        } catch {
          throw error;
        }
      }
    },
  });
}

// --- Init: network redirects -------------------------------------------------------------------------------

/**
 * Patches `request` and `get` of `node:http` and `node:https` (and their ESM named exports) so that a request
 * to a host matching a redirect goes to its target: protocol, host and port replaced, path, query and headers
 * kept (a missing `Host` header is set to the original host), any agent dropped.
 * @param {HostRedirect[]} redirects
 */
function installRedirects(redirects) {
  if (redirects.length === 0) return;
  const rules = redirects.map((redirect) => ({
    pattern: new RegExp(`^(?:${redirect.hostPattern})$`, 'i'),
    target: new URL(redirect.target),
  }));
  const originals = { http: http.request, https: https.request };
  /** @param {URL} target */
  const requestFor = (target) => (target.protocol === 'https:' ? originals.https : originals.http);

  /** @param {'http' | 'https'} scheme */
  const redirecting = (scheme) =>
    function request(/** @type {unknown[]} */ ...args) {
      const call = normaliseArguments(args);
      const host = hostOf(call.options);
      const rule = host === undefined ? undefined : rules.find((candidate) => candidate.pattern.test(host));
      if (!rule || host === undefined) return Reflect.apply(originals[scheme], this, args);
      const options = redirectedOptions(call.options, host, scheme, rule.target);
      return call.callback
        ? requestFor(rule.target)(options, call.callback)
        : requestFor(rule.target)(options);
    };
  /** @param {'http' | 'https'} scheme */
  const getting = (scheme) => {
    const request = scheme === 'http' ? http.request : https.request;
    return function get(/** @type {unknown[]} */ ...args) {
      const req = Reflect.apply(request, this, args);
      req.end();
      return req;
    };
  };

  http.request = redirecting('http');
  https.request = redirecting('https');
  http.get = getting('http');
  https.get = getting('https');
  nodeModule.syncBuiltinESMExports();
}

/**
 * The call forms of `request`: `(options[, callback])` and `(url[, options][, callback])`, `url` a string or
 * a URL; like Node, the options override what the URL says.
 * @param {unknown[]} args
 * @returns {{ options: Record<string, unknown>, callback: Function | undefined }}
 */
function normaliseArguments(args) {
  let [first, second, third] = args;
  let options = {};
  if (typeof first === 'string' || first instanceof URL) {
    options = { ...urlToHttpOptions(typeof first === 'string' ? new URL(first) : first) };
    if (typeof second === 'function') {
      third = second;
      second = undefined;
    }
    if (typeof second === 'object' && second !== null) options = { ...options, ...second };
    return { options, callback: typeof third === 'function' ? third : undefined };
  }
  if (typeof first === 'object' && first !== null) options = { ...first };
  return { options, callback: typeof second === 'function' ? second : undefined };
}

/** The host name of a request, without port or IPv6 brackets. */
function hostOf(/** @type {Record<string, unknown>} */ options) {
  const raw = options.hostname || options.host;
  if (typeof raw !== 'string' || raw === '') return undefined;
  if (raw.startsWith('[')) return raw.slice(1, raw.indexOf(']'));
  const colons = raw.split(':').length - 1;
  return colons === 1 ? raw.slice(0, raw.indexOf(':')) : raw;
}

/**
 * @param {Record<string, unknown>} original
 * @param {string} host
 * @param {'http' | 'https'} scheme
 * @param {URL} target
 */
function redirectedOptions(original, host, scheme, target) {
  const {
    agent,
    host: _host,
    hostname: _hostname,
    port: originalPort,
    protocol: _protocol,
    defaultPort: _defaultPort,
    _defaultAgent,
    createConnection: _createConnection,
    servername: _servername,
    ...rest
  } = original;
  const defaultPort = scheme === 'https' ? 443 : 80;
  const hostHeader =
    originalPort === undefined || originalPort === null || Number(originalPort) === defaultPort
      ? host
      : `${host}:${originalPort}`;
  return {
    ...rest,
    ...(agent === false ? { agent: false } : {}),
    protocol: target.protocol,
    hostname: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
    port: target.port === '' ? (target.protocol === 'https:' ? 443 : 80) : Number(target.port),
    headers: withHostHeader(rest.headers, hostHeader),
  };
}

/** The headers, with `Host` set to the original host unless they already carry one (kept as is). */
function withHostHeader(/** @type {unknown} */ headers, /** @type {string} */ host) {
  if (Array.isArray(headers)) {
    const hasHost = headers.some((value, index) => index % 2 === 0 && String(value).toLowerCase() === 'host');
    return hasHost ? headers : [...headers, 'Host', host];
  }
  const record = typeof headers === 'object' && headers !== null ? { ...headers } : {};
  if (!Object.keys(record).some((name) => name.toLowerCase() === 'host')) record.Host = host;
  return record;
}

// --- Logs --------------------------------------------------------------------------------------------------

/** Like the Lambda runtime's text log format: `<ISO time>\t<request id>\t<LEVEL>\t<message>`. */
function patchConsole() {
  /** @type {[keyof Console, string, NodeJS.WriteStream][]} */
  const methods = [
    ['log', 'INFO', process.stdout],
    ['info', 'INFO', process.stdout],
    ['debug', 'DEBUG', process.stdout],
    ['warn', 'WARN', process.stderr],
    ['error', 'ERROR', process.stderr],
  ];
  for (const [method, level, stream] of methods) {
    Reflect.set(console, method, (/** @type {unknown[]} */ ...args) =>
      logLine(stream, level, format(...args)),
    );
  }
}

/** @param {NodeJS.WritableStream} stream @param {string} level @param {string} message */
function logLine(stream, level, message) {
  stream.write(`${new Date().toISOString()}\t${currentRequestId ?? 'undefined'}\t${level}\t${message}\n`);
}
