/** The techniques by name (`--virt MODE`). */
import { HwTechnique, type HwOptions } from './hw.js';
import type { Technique, TechniqueName } from './technique.js';

export type TechniqueOptions = HwOptions;

export function createTechnique(name: TechniqueName, options: TechniqueOptions = {}): Technique {
  switch (name) {
    case 'hw': return new HwTechnique(options);
    default: throw new Error(`technique '${name}' is not built yet`);
  }
}
