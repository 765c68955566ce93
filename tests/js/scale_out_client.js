// The client host of tests/scale_out.rs, run inside the client's network
// namespace.
//
//   node scale_out_client.js echo HOST PORT COUNT SEED
//     Opens COUNT connections at once to HOST:PORT (the balancer). Each
//     sends a payload of a size between 1 byte and 1 MiB (the first is 1
//     byte, the second 1 MiB, the rest drawn from SEED), reads the echo
//     until it has as many bytes back, and compares their SHA-256. It then
//     prints `OK LOCAL_IP:LOCAL_PORT SIZE` (the address the balancer saw,
//     which the server must report as the original client), and closes.
//     Any failure prints `FAIL ...` and the exit status is 1.
//
//   node scale_out_client.js refused HOST PORT
//     Connects straight to a server, sends a few bytes that are no PROXY
//     header, and waits for the server to close the connection. Prints
//     `CLOSED LOCAL_IP:LOCAL_PORT` and exits 0 once the server closed
//     without sending anything; `FAIL ...` with exit 1 if the connect
//     failed, the server sent bytes, or nothing happened within the
//     failure guard.
//
// Payloads come from a seeded xorshift32 so that a failure can be replayed;
// the failure guard is generous (a loaded 2-core machine), never a
// synchronisation point.
'use strict';
const net = require('net');
const crypto = require('crypto');

const [mode, host, portArg] = process.argv.slice(2, 5);
const port = Number(portArg);
const GUARD_MS = 30000;
const MIB = 1024 * 1024;

function xorshift32(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function payload(next, size) {
  const buf = Buffer.allocUnsafe(size);
  let i = 0;
  for (; i + 4 <= size; i += 4) buf.writeUInt32LE(next(), i);
  for (; i < size; i++) buf[i] = next() & 0xff;
  return buf;
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function echo(count, seed) {
  const next = xorshift32(seed);
  let pending = count;
  let failed = false;
  const fail = (msg) => {
    failed = true;
    console.log('FAIL ' + msg);
  };
  for (let i = 0; i < count; i++) {
    const size = i === 0 ? 1 : i === 1 ? MIB : 1 + (next() % MIB);
    const data = payload(next, size);
    const want = sha256(data);
    const chunks = [];
    let got = 0;
    let done = false;
    const sock = net.connect(port, host);
    const finish = (msg) => {
      if (done) return;
      done = true;
      if (msg) fail(`connection ${i} (${size} B): ${msg}`);
      sock.destroy();
      if (--pending === 0) process.exit(failed ? 1 : 0);
    };
    sock.setTimeout(GUARD_MS, () => finish(`no progress for ${GUARD_MS} ms (failure guard)`));
    sock.on('connect', () => sock.write(data));
    sock.on('data', (d) => {
      chunks.push(d);
      got += d.length;
      if (got > size) {
        finish(`echo longer than sent: ${got} B`);
      } else if (got === size) {
        const back = sha256(Buffer.concat(chunks));
        if (back !== want) {
          finish(`SHA-256 of the echo ${back} differs from the payload's ${want}`);
        } else {
          console.log(`OK ${sock.localAddress}:${sock.localPort} ${size}`);
          finish(null);
        }
      }
    });
    sock.on('error', (e) => finish(`${e.code || e.message} after ${got} of ${size} B`));
    sock.on('close', () => finish(`closed after ${got} of ${size} B`));
  }
}

function refused() {
  const sock = net.connect(port, host);
  const guard = setTimeout(() => {
    console.log(`FAIL the server did not close the connection within ${GUARD_MS} ms`);
    process.exit(1);
  }, GUARD_MS);
  let local = null;
  sock.on('connect', () => {
    local = `${sock.localAddress}:${sock.localPort}`;
    // Longer than any PROXY header's fixed part (v2's 16 bytes, v1's
    // "PROXY "), so every parser has enough to decide; no FIN, so the
    // server must close on its own.
    sock.write('hello, this is no PROXY header\r\n');
  });
  sock.on('data', (d) => {
    console.log(`FAIL the server sent ${d.length} bytes back: ${JSON.stringify(d.toString())}`);
    process.exit(1);
  });
  // A reset is a close too: what matters is that nothing was echoed.
  sock.on('error', () => {});
  sock.on('close', () => {
    clearTimeout(guard);
    if (local === null) {
      console.log('FAIL could not connect');
      process.exit(1);
    }
    console.log(`CLOSED ${local}`);
    process.exit(0);
  });
}

if (mode === 'echo') {
  echo(Number(process.argv[5]), Number(process.argv[6]));
} else if (mode === 'refused') {
  refused();
} else {
  console.log('FAIL usage: scale_out_client.js echo|refused HOST PORT [COUNT SEED]');
  process.exit(2);
}
