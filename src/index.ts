/** The Functions app's entry point (package.json `main`): registers every function. */
import './functions/cleanImageCache.js';
import './functions/previewCleanup.js';
import './functions/previewWorker.js';
