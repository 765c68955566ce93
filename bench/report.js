// bench/report.js RESULTS_DIR > BENCHMARKS.md
//
// Reads the JSON files bench/compare.sh left in RESULTS_DIR (one per run:
// SCENARIO-SERVER-ROUND.json), takes the median of every figure over the
// rounds, and writes the machine, the command, one table per scenario with
// every figure also as a ratio to Node and to tokio, the targets, and then
// bench/analysis.md (the profiler-backed notes, written by hand).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/report.js RESULTS_DIR');
  process.exit(2);
}

const settings = {};
for (const line of fs.readFileSync(path.join(dir, 'settings.txt'), 'utf8').split('\n')) {
  // Lines hold several NAME=value pairs; values may contain spaces only
  // in the lists (SERVERS, SCENARIOS, UNAVAILABLE), which are one per line.
  const m = line.match(/^([A-Z_]+)=(.*)$/);
  if (m && /^(SERVERS|SCENARIOS|UNAVAILABLE|NODE_VERSION|BUN_VERSION|RUSTC_VERSION|ELAPSED|PINNED)$/.test(m[1])) {
    settings[m[1]] = m[2].trim();
  } else {
    for (const kv of line.matchAll(/([A-Z_]+)=(\S+)/g)) settings[kv[1]] = kv[2];
  }
  settings._lines = (settings._lines || []).concat(line ? [line] : []);
}

// runs[scenario][server] = [report, ...]
const runs = {};
for (const f of fs.readdirSync(dir)) {
  const m = f.match(/^([a-z]+)-([a-z-]+)-(\d+)\.json$/);
  if (!m) continue;
  let rep;
  try {
    rep = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  } catch {
    continue;
  }
  ((runs[m[1]] ??= {})[m[2]] ??= []).push(rep);
}

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};
const med = (scenario, server, field) =>
  median(((runs[scenario] || {})[server] || []).map((r) => r[field]));
const count = (scenario, server) => ((runs[scenario] || {})[server] || []).length;

const fmt = (x) => {
  if (x === undefined) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
};
const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);

const servers = (settings.SERVERS || 'netloop mio tokio node bun-net bun-listen').split(/\s+/).filter(Boolean);
const unavailable = new Set((settings.UNAVAILABLE || '').split(/\s+/).filter(Boolean));
const names = {
  netloop: 'netloop (`netloop echo`)',
  'netloop-base': 'netloop, base build (`NETLOOP_BASE`)',
  mio: 'mio floor (`peer-mio-echo`)',
  tokio: 'tokio current-thread (`peer-tokio-echo`)',
  node: 'Node `net` (`node_echo.js`)',
  'bun-net': 'Bun `node:net` (`node_echo.js`)',
  'bun-listen': 'Bun `Bun.listen` (`bun_listen_echo.js`)',
};

const out = [];
const p = (s = '') => out.push(s);

// One table: rows are servers, each metric with its ratio to Node and tokio.
function table(scenario, metrics, who = servers) {
  const head = ['server', 'runs'];
  for (const m of metrics) head.push(m.title, '÷ Node', '÷ tokio');
  p(`| ${head.join(' | ')} |`);
  p(`|${head.map((_, i) => (i < 1 ? ' --- ' : ' ---: ')).join('|')}|`);
  for (const s of who) {
    const row = [names[s] || s];
    if (unavailable.has(s)) {
      row.push('unavailable');
      for (const _ of metrics) row.push('–', '–', '–');
    } else {
      row.push(String(count(scenario, s)));
      for (const m of metrics) {
        const v = med(scenario, s, m.field);
        if (m.plain) row.push(fmt(v), '', '');
        else row.push(fmt(v), ratio(v, med(scenario, 'node', m.field)), ratio(v, med(scenario, 'tokio', m.field)));
      }
    }
    p(`| ${row.join(' | ')} |`);
  }
  p();
}

// ----- header ---------------------------------------------------------------------
const cpuModel = (() => {
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/);
    return m ? m[1] : os.cpus()[0]?.model;
  } catch {
    return os.cpus()[0]?.model;
  }
})();
p('# netloop benchmarks');
p();
p('Written by `bench/compare.sh` from its latest run; every figure is the');
p('median over the rounds. Ratios are this row\'s figure divided by Node\'s');
p('and by tokio\'s (for times and CPU, lower is better; for rates, higher).');
p();
p('## Machine');
p();
p(`- CPU: ${cpuModel}, ${os.cpus().length} logical CPUs; ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB memory`);
p(`- Kernel: ${os.type()} ${os.release()}`);
p(`- ${settings.RUSTC_VERSION || 'rustc ?'}; Node ${settings.NODE_VERSION || '?'}; Bun ${settings.BUN_VERSION || '?'}`);
p(settings.PINNED === 'no'
  ? '- Not pinned (taskset or a second CPU was missing): the server and the load generator (`netloop bench`, mio, one thread) shared the CPUs; a fresh server process serves each run.'
  : `- The server under test is pinned to ${settings.PINNED ? settings.PINNED.replace(/^server /, '').replace(/, generator /, ' and the load generator (`netloop bench`, mio, one thread) to ') : 'CPU 0 and the load generator (`netloop bench`, mio, one thread) to CPU 1'}; a fresh server process serves each run.`);
p(`- Run took ${settings.ELAPSED || '?'} s. Other work on the machine was not stopped: treat differences under ~5% as noise.`);
p();
p('## Command');
p();
p('```sh');
p(`${['ROUNDS', 'DURATION', 'WARMUP', 'CONNS', 'SIZE', 'PIPELINE', 'RATE', 'STREAM_CONNS', 'STREAM_SIZE', 'CONNECT_CONNS', 'CONNECT_SOURCES', 'IDLE_CONNS', 'TIMER_COUNT']
  .filter((k) => settings[k] !== undefined)
  .map((k) => `${k}=${settings[k]}`)
  .join(' ')} bench/compare.sh`);
p('```');
p();
for (const l of settings._lines || []) if (/asked/.test(l)) p(`(${l.replace(/^.*IDLE_CONNS/, 'IDLE_CONNS')})`);
p();

// ----- tables ---------------------------------------------------------------------
const S = settings;
if (runs.pingpong) {
  p(`## Ping-pong: ${S.CONNS} connections, ${S.SIZE}-byte messages, pipeline ${S.PIPELINE}, one loop (closed loop)`);
  p();
  table('pingpong', [
    { title: 'req/s', field: 'rps' },
    { title: 'p99 µs', field: 'p99_us' },
    { title: 'server CPU µs/req', field: 'server_cpu_us_per_req' },
  ]);
  p('Latency percentiles (µs): p50 / p90 / p99 / p99.9 / max');
  p();
  p('| server | p50 | p90 | p99 | p99.9 | max | server CPU use |');
  p('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of servers) {
    if (unavailable.has(s) || !count('pingpong', s)) continue;
    const f = (k) => fmt(med('pingpong', s, k));
    p(`| ${names[s]} | ${f('p50_us')} | ${f('p90_us')} | ${f('p99_us')} | ${f('p999_us')} | ${f('max_us')} | ${fmt(100 * (med('pingpong', s, 'server_cpu_util') || 0))}% |`);
  }
  p();
}
if (runs.rate) {
  p(`## Open loop: ${S.RATE} requests/s over ${S.CONNS} connections (latency from each request's due time)`);
  p();
  table('rate', [
    { title: 'req/s done', field: 'rps' },
    { title: 'p50 µs', field: 'p50_us' },
    { title: 'p99 µs', field: 'p99_us' },
    { title: 'p99.9 µs', field: 'p999_us' },
    { title: 'server CPU µs/req', field: 'server_cpu_us_per_req' },
  ]);
}
if (runs.stream) {
  p(`## Stream: ${S.STREAM_CONNS} connection(s), ${S.STREAM_SIZE}-byte writes, echoed both ways`);
  p();
  table('stream', [
    { title: 'MB/s', field: 'mb_s' },
    { title: 'server CPU µs/MB', field: 'server_cpu_us_per_mb' },
  ]);
}
if (runs.connect) {
  p(`## Connect: ${S.CONNECT_CONNS} workers, each connect + ${S.SIZE}-byte echo + close (client ports spread over ${S.CONNECT_SOURCES || 1} source addresses)`);
  p();
  table('connect', [
    { title: 'conns/s', field: 'conns_s' },
    { title: 'p99 µs', field: 'p99_us' },
    { title: 'server CPU µs/conn', field: 'server_cpu_us_per_conn' },
  ]);
}
if (runs.idle) {
  p(`## Idle: ${S.IDLE_CONNS} connections opened, one echo each, held`);
  p();
  table('idle', [
    { title: 'established', field: 'established', plain: true },
    { title: 'RSS KiB/conn', field: 'idle_kib_per_conn' },
    { title: 'anon KiB/conn', field: 'idle_anon_kib_per_conn' },
    { title: 'server CPU µs/conn', field: 'server_cpu_us_per_conn' },
  ]);
}
const timerRows = ['netloop', 'node', 'bun'].filter((s) => count('timers', s) || count('refresh', s));
if (timerRows.length) {
  p(`## Timers: ${S.TIMER_COUNT} timeouts (delays 1..100 ms) set and fired; ${S.TIMER_COUNT} idle-timeout refreshes`);
  p();
  p('`netloop bench timers|refresh` beside `bench/peers/node_timers.js timers|refresh` (run by Node and by Bun), each pinned to CPU 0.');
  p();
  const cols = [
    ['timers', 'total_ms', 'set + fire all, ms'],
    ['timers', 'set_ms', 'set all, ms'],
    ['timers', 'cpu_ms', 'CPU ms'],
    ['refresh', 'socket_set_timeout_ns_per_op', 'socket.setTimeout ns/op'],
    ['refresh', 'timer_refresh_ns_per_op', 'timeout.refresh() ns/op'],
  ];
  const head = ['runtime'];
  for (const c of cols) head.push(c[2], '÷ Node');
  p(`| ${head.join(' | ')} |`);
  p(`|${head.map((_, i) => (i ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const s of timerRows) {
    const row = [s];
    for (const [sc, f] of cols) {
      const v = med(sc, s, f);
      row.push(fmt(v), ratio(v, med(sc, 'node', f)));
    }
    p(`| ${row.join(' | ')} |`);
  }
  p();
  p('(No tokio column here: these are Node API costs; Node\'s CPU includes its helper threads.)');
  p();
}

// ----- targets ------------------------------------------------------------------------
const nl = (sc, f) => med(sc, 'netloop', f);
const targets = [];
// `miss`: how far the figure is from the bound, as a fraction; a miss of
// a few percent is inside this machine's run-to-run noise and says so.
const check = (name, ok, detail, status, miss) => {
  let st = status || (ok === undefined ? 'not measured' : ok ? 'met' : '**not met**');
  if (!status && ok === false && miss !== undefined && miss < 0.03) {
    st += ` (by ${(100 * miss).toFixed(1)}%, inside run-to-run noise)`;
  }
  targets.push(`| ${name} | ${st} | ${detail} |`);
};
{
  const a = nl('pingpong', 'server_cpu_us_per_req');
  const t = med('pingpong', 'tokio', 'server_cpu_us_per_req');
  const m = med('pingpong', 'mio', 'server_cpu_us_per_req');
  check('ping-pong: server CPU/req ≤ tokio', a && t ? a <= t : undefined, `${fmt(a)} vs ${fmt(t)} µs (${ratio(a, t)})`, undefined, a && t ? a / t - 1 : undefined);
  check('ping-pong: server CPU/req within 5% of the mio floor', a && m ? a <= m * 1.05 : undefined, `${fmt(a)} vs ${fmt(m)} µs (${ratio(a, m)})`, undefined, a && m ? a / (m * 1.05) - 1 : undefined);
  const b = med('pingpong', 'netloop-base', 'server_cpu_us_per_req');
  if (b) {
    check('ping-pong: server CPU/req no worse than the base build', a ? a <= b : undefined, `${fmt(a)} vs ${fmt(b)} µs (${ratio(a, b)})`, undefined, a ? a / b - 1 : undefined);
  }
  const r = nl('pingpong', 'rps');
  const n = med('pingpong', 'node', 'rps');
  check('ping-pong: req/s ≥ 1.5× Node', r && n ? r >= 1.5 * n : undefined, `${fmt(r)} vs ${fmt(n)} (${ratio(r, n)})`);
}
{
  const a = nl('stream', 'server_cpu_us_per_mb');
  const t = med('stream', 'tokio', 'server_cpu_us_per_mb');
  check('stream: server CPU/MB ≤ tokio', a && t ? a <= t : undefined, `${fmt(a)} vs ${fmt(t)} µs/MB (${ratio(a, t)})`);
}
{
  const a = nl('connect', 'conns_s');
  const n = med('connect', 'node', 'conns_s');
  const b = med('connect', 'bun-net', 'conns_s');
  const f = med('connect', 'mio', 'conns_s');
  const ca = nl('connect', 'server_cpu_us_per_conn');
  const cn = med('connect', 'node', 'server_cpu_us_per_conn');
  check('connect: ≥ 2.5× Node', a && n ? a >= 2.5 * n : undefined,
    `${fmt(a)} vs ${fmt(n)} conns/s (${ratio(a, n)}); the mio floor reaches ${ratio(f, n)} with the same generator; server CPU per connection ${fmt(ca)} vs ${fmt(cn)} µs (${ratio(cn, ca)} less)`,
    undefined, a && n ? 1 - a / (2.5 * n) : undefined);
  check('connect: ≥ Bun node:net', a && b ? a >= b : undefined, `${fmt(a)} vs ${fmt(b)} conns/s (${ratio(a, b)})`);
}
{
  const k = nl('idle', 'idle_kib_per_conn');
  const ka = nl('idle', 'idle_anon_kib_per_conn');
  const kb = med('idle', 'bun-listen', 'idle_anon_kib_per_conn');
  check('idle: ≤ 0.5 KiB user-space memory per connection', k !== undefined ? k <= 0.5 : undefined, `${fmt(k)} KiB/conn (RSS growth / connections)`);
  check('idle: below Bun.listen (anonymous memory)', ka !== undefined && kb !== undefined ? ka < kb : undefined, `${fmt(ka)} vs ${fmt(kb)} anon KiB/conn (${ratio(ka, kb)})`);
  const est = nl('idle', 'established');
  const fdLimit = Number(S.FD_LIMIT);
  const runnable = !(fdLimit > 0) || fdLimit > 100200;
  check('idle: one loop holds 100,000 connections', est === undefined ? undefined : est >= 100000,
    `${fmt(est)} held here (RLIMIT_NOFILE ${S.FD_LIMIT || '?'}); see the notes`,
    runnable ? undefined : '**not runnable here**');
}
{
  const a = nl('timers', 'total_ms');
  const n = med('timers', 'node', 'total_ms');
  check('1,000,000 timers set and fired faster than Node', a && n ? a < n : undefined, `${fmt(a)} vs ${fmt(n)} ms (${ratio(a, n)})`);
  const r = nl('refresh', 'socket_set_timeout_ns_per_op');
  const rn = med('refresh', 'node', 'socket_set_timeout_ns_per_op');
  check('1,000,000 idle-timeout refreshes faster than Node', r && rn ? r < rn : undefined, `${fmt(r)} vs ${fmt(rn)} ns/op (${ratio(r, rn)})`);
}
p('## Targets');
p();
p('| target | status | netloop vs reference |');
p('| --- | --- | --- |');
for (const t of targets) p(t);
p();

const notes = path.join(__dirname, 'analysis.md');
if (fs.existsSync(notes)) {
  p(fs.readFileSync(notes, 'utf8').trimEnd());
  p();
}
process.stdout.write(out.join('\n'));
