/** Print the model-capability table as Markdown (the table in docs/models.md): `npm run models`. */
import { parseOptionsOrExit } from '../src/cli_io.ts';
import { modelTableMarkdown } from '../src/config/model_table.ts';

const USAGE = 'usage: npm run models (prints the model-capability table as Markdown)';

parseOptionsOrExit(process.argv.slice(2), {}, 'models', USAGE);
process.stdout.write(`${modelTableMarkdown()}\n`);
