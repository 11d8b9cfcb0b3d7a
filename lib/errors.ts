/**
 * Error codes and argument checks. Native errors already carry an `ERR_SHMRING_*` `code`;
 * bad arguments are caught here first and thrown as `TypeError`/`RangeError` with
 * `ERR_SHMRING_INVALID_ARG`, before anything reaches native code.
 */
import { types } from 'node:util'

/** Every `code` an error thrown by shmring can carry. */
export const codes = {
  CLOSED: 'ERR_SHMRING_CLOSED',
  PEER_CLOSED: 'ERR_SHMRING_PEER_CLOSED',
  PEER_DEAD: 'ERR_SHMRING_PEER_DEAD',
  CORRUPT: 'ERR_SHMRING_CORRUPT',
  TOO_LARGE: 'ERR_SHMRING_TOO_LARGE',
  BUFFER_TOO_SMALL: 'ERR_SHMRING_BUFFER_TOO_SMALL',
  TIMEOUT: 'ERR_SHMRING_TIMEOUT',
  INVALID_ARG: 'ERR_SHMRING_INVALID_ARG',
  NOT_FOUND: 'ERR_SHMRING_NOT_FOUND',
  EXISTS: 'ERR_SHMRING_EXISTS',
  PERMISSION: 'ERR_SHMRING_PERMISSION',
  INCOMPATIBLE: 'ERR_SHMRING_INCOMPATIBLE',
  UNSUPPORTED: 'ERR_SHMRING_UNSUPPORTED',
  OS: 'ERR_SHMRING_OS',
  NO_BINARY: 'ERR_SHMRING_NO_BINARY',
} as const

export type ErrorCode = (typeof codes)[keyof typeof codes]

/** An error with a stable `code`. */
export interface ShmringError extends Error {
  code: ErrorCode
}

/** Whether `e` is an error thrown by shmring (optionally with `code`). */
export function isShmringError(e: unknown, code?: ErrorCode): e is ShmringError {
  const c = (e as { code?: unknown } | null)?.code
  return e instanceof Error && typeof c === 'string' && c.startsWith('ERR_SHMRING_') && (code === undefined || c === code)
}

/** Builds an `Error` with `code`. */
export function shmringError(code: ErrorCode, message: string): ShmringError {
  return Object.assign(new Error(message), { code })
}

function invalid<E extends Error>(Kind: new (message: string) => E, message: string): E {
  return Object.assign(new Kind(message), { code: codes.INVALID_ARG })
}

export function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  checkUint8Array(value, name)
  checkNotShared(value, name)
}

/** Views on a SharedArrayBuffer are refused: another thread could change them while native code copies. */
export function checkNotShared(value: ArrayBufferView, name: string): void {
  if (typeof SharedArrayBuffer !== 'undefined' && value.buffer instanceof SharedArrayBuffer) {
    throw invalid(TypeError, `${name} must not be backed by a SharedArrayBuffer; copy it into a Buffer first`)
  }
}

/**
 * The type check of `checkBytes` alone, for arguments of the raw native calls (src/fast.rs),
 * which refuse SharedArrayBuffer views themselves: there it costs one Node-API call, here
 * reading `.buffer` costs a call into C++ on every message.
 */
export function checkUint8Array(value: unknown, name: string): asserts value is Uint8Array {
  if (!types.isUint8Array(value)) {
    throw invalid(TypeError, `${name} must be a Buffer or Uint8Array, got ${describe(value)}`)
  }
}

/** A Uint32Array argument of a raw native call (which refuses SharedArrayBuffer views itself). */
export function checkUint32Array(value: unknown, name: string): asserts value is Uint32Array {
  if (!types.isUint32Array(value)) {
    throw invalid(TypeError, `${name} must be a Uint32Array, got ${describe(value)}`)
  }
}

export function checkString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(TypeError, `${name} must be a non-empty string, got ${describe(value)}`)
  }
}

export function checkInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') {
    throw invalid(TypeError, `${name} must be a number, got ${describe(value)}`)
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(RangeError, `${name} must be an integer from ${min} to ${max}, got ${value}`)
  }
}

export function checkFunction(value: unknown, name: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') {
    throw invalid(TypeError, `${name} must be a function, got ${describe(value)}`)
  }
}

export function checkObject(value: unknown, name: string): void {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw invalid(TypeError, `${name} must be an object, got ${describe(value)}`)
  }
}

export function checkSignal(value: unknown, name: string): asserts value is AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw invalid(TypeError, `${name} must be an AbortSignal, got ${describe(value)}`)
  }
}

export function rangeError(message: string): RangeError {
  return invalid(RangeError, message)
}

/** A short description of any value for an error message; never throws. */
export function describe(value: unknown): string {
  try {
    if (value === null) return 'null'
    if (Array.isArray(value)) return 'an array'
    if (typeof value === 'object') return `an instance of ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'Object'}`
    if (typeof value === 'symbol') return 'a symbol'
    return `${typeof value} ${String(value).slice(0, 40)}`
  } catch {
    return `a ${typeof value} that cannot be printed`
  }
}

/** The error an aborted wait rejects with: an `AbortError` whose `cause` is the signal's reason (as Node's own APIs do). */
export function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' })
}
