// Where approval state lives follows the recording store: the data dir with
// the local store, the DynamoDB table with the AWS store (so replicas on one
// table agree). The AWS SDK is loaded only when the AWS store is configured.
import { awsStoreSettings, type RecordingConfig } from '../../store/settings.js';
import { FileApprovalStore, type ApprovalStore } from './store.js';

export async function openApprovalStore(o: { file: string; recording: RecordingConfig }): Promise<ApprovalStore> {
  if ((o.recording.store ?? 'local') === 'local') return new FileApprovalStore(o.file);
  const settings = awsStoreSettings(o.recording);
  const [{ createAwsClients }, { DynamoApprovalStore }] = await Promise.all([import('../../store/aws/clients.js'), import('./dynamo-store.js')]);
  const clients = createAwsClients({ s3ForcePathStyle: settings.s3ForcePathStyle, forUploads: false });
  return new DynamoApprovalStore({ client: clients.dynamo, table: settings.table, retentionDays: settings.retentionDays, onClose: () => clients.destroy() });
}
