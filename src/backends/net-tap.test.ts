import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTap, tapUnavailableReasons } from './net-tap.js';
import { NetBackendError } from './net-backend.js';

test('openTap refuses honestly and says what is missing', () => {
  assert.throws(() => openTap('tap0'), (e: unknown) => {
    assert.ok(e instanceof NetBackendError);
    assert.match(e.message, /cannot open TAP interface 'tap0'/);
    assert.match(e.message, process.platform === 'linux' ? /ioctl\(TUNSETIFF/ : /Linux only/);
    assert.match(e.message, /NetSwitch/);
    return true;
  });
  assert.ok(tapUnavailableReasons().length >= 1);
});

test('openTap rejects invalid interface names first', () => {
  assert.throws(() => openTap('a-name-longer-than-15'), /not a valid interface name/);
  assert.throws(() => openTap(''), /not a valid interface name/);
});
