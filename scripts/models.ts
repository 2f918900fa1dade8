/** Print the model-capability table as Markdown (the README's table): `npm run models`. */
import { modelTableMarkdown } from '../src/config/model_table.ts';

process.stdout.write(`${modelTableMarkdown()}\n`);
