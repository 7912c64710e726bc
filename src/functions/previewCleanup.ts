import { app } from '@azure/functions';
import { previewCleanupHandler } from './handlers.js';

app.http('previewCleanup', {
  methods: ['GET'],
  authLevel: 'function',
  handler: previewCleanupHandler,
});
