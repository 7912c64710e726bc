import { app } from '@azure/functions';
import { cleanImageCacheHandler } from './handlers.js';

app.timer('cleanImageCache', {
  schedule: '%CLEANUP_SCHEDULE%',
  runOnStartup: false,
  handler: cleanImageCacheHandler,
});
