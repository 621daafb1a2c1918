/**
 * Page-table entries of Sv39/Sv48 and their x4 G-stage forms (privileged
 * spec §4.3.1, §4.4, §9.5): the bits, and the checks every walker makes —
 * the hart's MMU for all three stages, and the VMM's software walk of a
 * guest's tables for its shadow page tables.
 */
import { Access } from './constants.js';

/** PTE bits (Figure 4.18). */
export const enum Pte {
  V = 1, R = 2, W = 4, X = 8, U = 16, G = 32, A = 64, D = 128,
}

/** The PPN field (bits 53:10) of a PTE given as its low and high words. */
export function ptePpn(lo: number, hi: number): number {
  return (hi & 0x3fffff) * 4194304 + (lo >>> 10);
}

/** Not valid, W without R, or reserved bits 63:54 set (no Svnapot/Svpbmt): a page fault. */
export function pteInvalid(lo: number, hi: number): boolean {
  return (lo & Pte.V) === 0 || ((lo & Pte.R) === 0 && (lo & Pte.W) !== 0) || (hi >>> 22) !== 0;
}

/** A non-leaf PTE must have D, A and U clear. */
export function nonLeafReserved(lo: number): boolean {
  return (lo & (Pte.D | Pte.A | Pte.U)) !== 0;
}

/** Whether leaf `lo` grants `access` (R, W, X; MXR makes executable pages readable). */
export function leafAllows(lo: number, access: Access, mxr: boolean): boolean {
  if (access === Access.Execute) return (lo & Pte.X) !== 0;
  if (access === Access.Read) return (lo & Pte.R) !== 0 || (mxr && (lo & Pte.X) !== 0);
  return (lo & Pte.W) !== 0;
}

/**
 * Whether leaf `lo` may be used at the privilege of the access (§4.3.1):
 * U-mode only U pages; S-mode never executes U pages and reads or writes
 * them only with SUM.
 */
export function privilegeAllows(lo: number, access: Access, user: boolean, sum: boolean): boolean {
  if (user) return (lo & Pte.U) !== 0;
  return (lo & Pte.U) === 0 || (access !== Access.Execute && sum);
}

/** The A and D bits an access needs set in its leaf: A, and D for a write. */
export function accessedBits(access: Access): number {
  return Pte.A | (access === Access.Write ? Pte.D : 0);
}
