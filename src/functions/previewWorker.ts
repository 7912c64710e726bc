import { app } from '@azure/functions';
import { PREVIEW_QUEUE } from '../previews.js';
import { previewWorkerHandler } from './handlers.js';

app.storageQueue('previewWorker', {
  queueName: PREVIEW_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: previewWorkerHandler,
});
