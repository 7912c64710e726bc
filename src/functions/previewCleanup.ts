import { app } from '@azure/functions';
import { previewCleanupHandler, previewQueueOutput } from './handlers.js';

app.http('previewCleanup', {
  methods: ['GET', 'POST'],
  authLevel: 'function',
  extraOutputs: [previewQueueOutput],
  handler: previewCleanupHandler,
});
