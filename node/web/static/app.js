// Charta dashboard: receipt verification and live notices. The pages work
// without this script; it only adds what needs the browser.
(function () {
  'use strict';

  function hexToBytes(hex) {
    if (typeof hex !== 'string' || hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) {
      throw new Error('not a hex string: ' + hex);
    }
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) {
      out[i] = parseInt(hex.substr(i * 2, 2), 16);
    }
    return out;
  }

  function bytesToHex(b) {
    var s = '';
    for (var i = 0; i < b.length; i++) {
      s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    }
    return s;
  }

  async function sha256(parts) {
    var n = 0;
    parts.forEach(function (p) { n += p.length; });
    var buf = new Uint8Array(n);
    var off = 0;
    parts.forEach(function (p) { buf.set(p, off); off += p.length; });
    return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  }

  // verifyReceipt checks an RFC 6962 inclusion proof (RFC 9162, 2.1.3.2):
  // leaf = SHA-256(0x00 ‖ entry hash), node = SHA-256(0x01 ‖ left ‖ right).
  async function verifyReceipt(rc) {
    var e = rc.entry, p = rc.inclusion_proof, cp = rc.checkpoint;
    if (p.entry_hash !== e.hash) {
      throw new Error('the proof is for entry hash ' + p.entry_hash + ', not ' + e.hash);
    }
    if (p.index !== e.seq) {
      throw new Error('the proof is for position ' + p.index + ', not ' + e.seq);
    }
    var r = await sha256([Uint8Array.of(0), hexToBytes(e.hash)]);
    if (bytesToHex(r) !== p.leaf_hash) {
      throw new Error('the leaf hash does not match the proof');
    }
    var fn = p.index, sn = p.size - 1;
    for (var i = 0; i < p.hashes.length; i++) {
      var h = hexToBytes(p.hashes[i]);
      if (sn === 0) {
        throw new Error('the proof has more hashes than the tree has levels');
      }
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256([Uint8Array.of(1), h, r]);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await sha256([Uint8Array.of(1), r, h]);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) {
      throw new Error('the proof has too few hashes for a tree of ' + p.size);
    }
    var root = bytesToHex(r);
    if (root !== p.root) {
      throw new Error('the recomputed root ' + root + ' differs from the proof root ' + p.root);
    }
    if (cp.size === p.size) {
      if (cp.root !== root) {
        throw new Error('the recomputed root differs from the checkpoint root ' + cp.root);
      }
      var lines = cp.body.split('\n');
      if (lines[2] !== btoa(String.fromCharCode.apply(null, r))) {
        throw new Error('the checkpoint note does not carry the recomputed root');
      }
      return 'Verified: entry ' + e.seq + ' is in the journal of ' + p.size + ' entries; the recomputed root ' +
        root.slice(0, 16) + '… matches the checkpoint.';
    }
    return 'Verified: entry ' + e.seq + ' is in the journal of ' + p.size + ' entries (root ' + root.slice(0, 16) +
      '…); the checkpoint has since grown to ' + cp.size + ' entries.';
  }

  function setupVerify() {
    var btn = document.getElementById('verify');
    var src = document.getElementById('receipt-text');
    var out = document.getElementById('verify-result');
    if (!btn || !src || !out) {
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      out.textContent = 'This browser cannot verify here (Web Crypto needs a secure context); use charta audit.';
      return;
    }
    out.textContent = 'Not verified yet.';
    btn.disabled = false;
    btn.addEventListener('click', function () {
      out.className = '';
      out.textContent = 'Verifying…';
      var rc;
      try {
        rc = JSON.parse(src.textContent);
      } catch (err) {
        out.className = 'bad';
        out.textContent = 'Verification failed: the receipt is not JSON.';
        return;
      }
      verifyReceipt(rc).then(function (msg) {
        out.className = 'ok';
        out.textContent = msg;
      }, function (err) {
        out.className = 'bad';
        out.textContent = 'Verification failed: ' + err.message;
      });
    });
  }

  // setupLive tells the reader when new journal entries arrive while the
  // page is open.
  function setupLive() {
    var live = document.getElementById('live');
    if (!live || !window.EventSource) {
      return;
    }
    var es = new EventSource(live.getAttribute('data-events'));
    var n = 0;
    es.addEventListener('entry', function () {
      n++;
      live.textContent = '';
      live.appendChild(document.createTextNode(n + (n === 1 ? ' new journal entry' : ' new journal entries') + ' since this page was loaded. '));
      var a = document.createElement('a');
      a.href = window.location.pathname + window.location.search;
      a.textContent = 'Reload';
      live.appendChild(a);
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        live.textContent = 'Live updates stopped; reload the page.';
      }
    };
    window.addEventListener('pagehide', function () { es.close(); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    setupVerify();
    setupLive();
  });
}());
