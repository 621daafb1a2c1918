/** Architectural constants of the RISC-V privileged architecture (privileged spec v1.12). */

/** Privilege levels (§1.2). */
export const enum Priv {
  U = 0,
  S = 1,
  M = 3,
}

/** Synchronous exception causes (mcause with interrupt bit clear, Table 3.6). */
export const enum Cause {
  MisalignedFetch = 0,
  FetchAccess = 1,
  IllegalInstruction = 2,
  Breakpoint = 3,
  MisalignedLoad = 4,
  LoadAccess = 5,
  MisalignedStore = 6,
  StoreAccess = 7,
  EcallU = 8,
  EcallS = 9,
  EcallVS = 10,
  EcallM = 11,
  FetchPageFault = 12,
  LoadPageFault = 13,
  StorePageFault = 15,
  FetchGuestPageFault = 20,
  LoadGuestPageFault = 21,
  VirtualInstruction = 22,
  StoreGuestPageFault = 23,
}

/** Interrupt causes (mcause with interrupt bit set). */
export const enum Irq {
  SSI = 1,
  VSSI = 2,
  MSI = 3,
  STI = 5,
  VSTI = 6,
  MTI = 7,
  SEI = 9,
  VSEI = 10,
  MEI = 11,
  SGEI = 12,
}

/** mstatus fields (§3.1.6), bit positions in the low 32 bits. */
export const enum Mstatus {
  SIE = 1 << 1,
  MIE = 1 << 3,
  SPIE = 1 << 5,
  UBE = 1 << 6,
  MPIE = 1 << 7,
  SPP = 1 << 8,
  VS = 3 << 9,
  MPP = 3 << 11,
  MPP_SHIFT = 11,
  FS = 3 << 13,
  FS_SHIFT = 13,
  XS = 3 << 15,
  MPRV = 1 << 17,
  SUM = 1 << 18,
  MXR = 1 << 19,
  TVM = 1 << 20,
  TW = 1 << 21,
  TSR = 1 << 22,
}

/** hstatus fields (§9.2.1), bit positions in the low 32 bits (VSXL, in the high word, is fixed at 2). */
export const enum Hstatus {
  VSBE = 1 << 5,
  GVA = 1 << 6,
  SPV = 1 << 7,
  SPVP = 1 << 8,
  HU = 1 << 9,
  VGEIN = 0x3f << 12,
  VTVM = 1 << 20,
  VTW = 1 << 21,
  VTSR = 1 << 22,
}

/** mstatus fields of the H extension, bit positions in the high 32 bits (§9.4.1). */
export const enum MstatusHi {
  GVA = 1 << 6,
  MPV = 1 << 7,
}

/** Memory access kinds, used for TLB selection and fault causes. */
export const enum Access {
  Read = 0,
  Write = 1,
  Execute = 2,
}

/** CSR numbers implemented by the core. */
export const enum Csr {
  FFLAGS = 0x001, FRM = 0x002, FCSR = 0x003,
  CYCLE = 0xc00, TIME = 0xc01, INSTRET = 0xc02, HPMCOUNTER3 = 0xc03, HPMCOUNTER31 = 0xc1f,
  SSTATUS = 0x100, SIE = 0x104, STVEC = 0x105, SCOUNTEREN = 0x106, SENVCFG = 0x10a,
  SSCRATCH = 0x140, SEPC = 0x141, SCAUSE = 0x142, STVAL = 0x143, SIP = 0x144, STIMECMP = 0x14d,
  SATP = 0x180,
  MVENDORID = 0xf11, MARCHID = 0xf12, MIMPID = 0xf13, MHARTID = 0xf14, MCONFIGPTR = 0xf15,
  MSTATUS = 0x300, MISA = 0x301, MEDELEG = 0x302, MIDELEG = 0x303, MIE = 0x304, MTVEC = 0x305,
  MCOUNTEREN = 0x306, MENVCFG = 0x30a, MCOUNTINHIBIT = 0x320, MHPMEVENT3 = 0x323, MHPMEVENT31 = 0x33f,
  MSCRATCH = 0x340, MEPC = 0x341, MCAUSE = 0x342, MTVAL = 0x343, MIP = 0x344, MTINST = 0x34a, MTVAL2 = 0x34b,
  PMPCFG0 = 0x3a0, PMPCFG15 = 0x3af, PMPADDR0 = 0x3b0, PMPADDR63 = 0x3ef,
  // Hypervisor extension (privileged spec ch. 9)
  HSTATUS = 0x600, HEDELEG = 0x602, HIDELEG = 0x603, HIE = 0x604, HTIMEDELTA = 0x605, HCOUNTEREN = 0x606,
  HGEIE = 0x607, HENVCFG = 0x60a, HTVAL = 0x643, HIP = 0x644, HVIP = 0x645, HTINST = 0x64a, HGATP = 0x680,
  HGEIP = 0xe12,
  VSSTATUS = 0x200, VSIE = 0x204, VSTVEC = 0x205, VSSCRATCH = 0x240, VSEPC = 0x241, VSCAUSE = 0x242,
  VSTVAL = 0x243, VSIP = 0x244, VSTIMECMP = 0x24d, VSATP = 0x280,
  MCYCLE = 0xb00, MINSTRET = 0xb02, MHPMCOUNTER3 = 0xb03, MHPMCOUNTER31 = 0xb1f,
}

/** Names of the exception causes (privileged spec Table 3.6 and §9.6.1), for statistics. */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  0: 'misaligned fetch', 1: 'fetch access', 2: 'illegal instruction', 3: 'breakpoint', 4: 'misaligned load',
  5: 'load access', 6: 'misaligned store', 7: 'store access', 8: 'ecall from U', 9: 'ecall from S',
  10: 'ecall from VS', 11: 'ecall from M', 12: 'fetch page fault', 13: 'load page fault', 15: 'store page fault',
  20: 'fetch guest-page fault', 21: 'load guest-page fault', 22: 'virtual instruction', 23: 'store guest-page fault',
};

/** Names of the interrupt causes, for statistics. */
export const INTERRUPT_NAMES: Readonly<Record<number, string>> = {
  1: 'supervisor software', 2: 'VS software', 3: 'machine software', 5: 'supervisor timer', 6: 'VS timer', 7: 'machine timer',
  9: 'supervisor external', 10: 'VS external', 11: 'machine external',
};
