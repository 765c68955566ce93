// Node's side of `netloop bench timers` and `netloop bench refresh`:
//
//   node node_timers.js timers  [count]   count setTimeouts, delays 1..100 ms,
//                                         until every one has fired
//   node node_timers.js refresh [count]   count socket.setTimeout(10000) calls
//                                         on a connected socket, then count
//                                         timeout.refresh() calls
//
// Prints one JSON object with the same field names netloop's modes use.
'use strict';
const net = require('node:net');

const mode = process.argv[2] || 'timers';
const count = Number(process.argv[3] || 1000000);
const label = process.env.LABEL || (typeof Bun !== 'undefined' ? 'bun' : 'node');

const ms = (ns) => Number(ns) / 1e6;
const round = (x) => Math.round(x * 1000) / 1000;

if (mode === 'timers') {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let fired = 0;
  let last = 0n;
  const cb = () => {
    fired++;
    if (fired === count) last = process.hrtime.bigint();
  };
  for (let i = 0; i < count; i++) setTimeout(cb, 1 + (i % 100));
  const setDone = process.hrtime.bigint();
  process.on('exit', () => {
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({
      mode: 'timers', label, count, fired,
      set_ms: round(ms(setDone - t0)),
      total_ms: round(ms(last - t0)),
      cpu_ms: round((cpu.user + cpu.system) / 1000),
    }));
  });
} else if (mode === 'refresh') {
  const server = net.createServer(() => {});
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) client.setTimeout(10000);
      const t1 = process.hrtime.bigint();
      const t = setTimeout(() => {}, 10000);
      t.unref();
      const t2 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) t.refresh();
      const t3 = process.hrtime.bigint();
      clearTimeout(t);
      console.log(JSON.stringify({
        mode: 'refresh', label, count,
        socket_set_timeout_ms: round(ms(t1 - t0)),
        socket_set_timeout_ns_per_op: round(Number(t1 - t0) / count),
        timer_refresh_ms: round(ms(t3 - t2)),
        timer_refresh_ns_per_op: round(Number(t3 - t2) / count),
      }));
      client.destroy();
      server.close();
    });
  });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
