/** Every transport `shmring bench` knows, in report order. Adding one: a file here and a line below. */
import type { Transport } from '../transport'
import { ipcAdvanced, ipcJson } from './ipc'
import { shmringAsync, shmringAsyncNoSpin, shmringHeld, shmringSync } from './shmring'
import { tcp } from './tcp'
import { uds } from './uds'
import { worker } from './worker'

export const transports: Transport[] = [shmringSync, shmringAsync, shmringAsyncNoSpin, shmringHeld, uds, tcp, ipcJson, ipcAdvanced, worker]
