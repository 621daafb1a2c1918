/**
 * Child process of `tsvisor compare`: runs the workload under one
 * configuration (given as JSON in argv[2]) and prints its row and the
 * command output as one JSON document.
 */
import { runOne, type ComparisonGuest, type Configuration } from './compare.js';

const { c, g, harts } = JSON.parse(process.argv[2]) as { c: Configuration; g: ComparisonGuest; harts: number };
const result = await runOne(c, g, harts);
process.stdout.write(JSON.stringify(result));
