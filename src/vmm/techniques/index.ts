/** The techniques by name (`--virt MODE`). */
import { HwTechnique, type HwOptions } from './hw.js';
import { TrapTechnique } from './trap.js';
import { BtTechnique } from './bt.js';
import { PvTechnique } from './pv.js';
import type { Technique, TechniqueName } from './technique.js';

export type TechniqueOptions = HwOptions;

export function createTechnique(name: TechniqueName, options: TechniqueOptions = {}): Technique {
  switch (name) {
    case 'hw': return new HwTechnique(options);
    case 'trap': return new TrapTechnique();
    case 'bt': return new BtTechnique();
    case 'pv': return new PvTechnique();
  }
}
