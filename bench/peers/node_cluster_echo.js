// Node's `cluster` echo server for bench/compare.sh's cluster rows: a
// primary and N workers, each worker running the same echo as
// node_echo.js.
//
//   node node_cluster_echo.js PORT WORKERS rr|shared
//
// `rr` is Node's default on Linux (cluster.SCHED_RR: the primary accepts
// and hands each connection to a worker in turn); `shared` is
// cluster.SCHED_NONE (the workers share the listening socket and the
// kernel picks who accepts). Port 0 works: the primary binds it once, and
// every worker gets the same port. Prints `listening on ADDR` once every
// worker listens.
'use strict';
const cluster = require('node:cluster');
const net = require('node:net');

const port = Number(process.argv[2] || 0);
const workers = Number(process.argv[3] || 2);
const policy = process.argv[4] || 'rr';
if (policy !== 'rr' && policy !== 'shared') {
  console.error(`policy must be rr or shared, not ${policy}`);
  process.exit(2);
}

if (cluster.isPrimary) {
  // Must be set before the first fork.
  cluster.schedulingPolicy = policy === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    listening += 1;
    if (listening === workers) {
      console.log(`listening on ${address.address}:${address.port}`);
    }
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  // compare.sh stops the server with SIGTERM: take the workers along.
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.pipe(sock);
  });
  server.listen(port, '127.0.0.1');
}
