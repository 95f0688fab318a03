// The scheduler's Thrift API, wire-compatible with Apache Aurora 0.22.
//
// Written for this project. Namespaces, type names, field ids, field types, requiredness and
// enum numbers follow Aurora's IDL exactly, so that the binary and JSON encodings are the same
// as Aurora's. Layout and comments are ours. Differences, all wire-compatible:
//   * Structs that no service method uses are left out (Attribute, HostAttributes, Package,
//     Lock, LockKey, HostMaintenanceRequest).
//   * TaskConfig and ResourceAggregate keep, as optional fields, the resource fields that
//     Aurora 0.19 had and 0.20 dropped (numCpus, ramMb, diskMb, requestedPorts), so that
//     clients of either generation can talk to us. Peers that do not know them skip them.
//
// Every call answers with a Response; errors travel in Response.responseCode and
// Response.details, never as Thrift exceptions.

namespace java org.apache.aurora.gen
namespace py gen.apache.aurora.api

// ------------------------------------------------------------------------------ constants

const string AURORA_EXECUTOR_NAME = 'AuroraExecutor'

// What a role, environment, job name, tier or user must look like.
const string GOOD_IDENTIFIER_PATTERN = "^[\\w\\-\\.]+$"
const string GOOD_IDENTIFIER_PATTERN_JVM = GOOD_IDENTIFIER_PATTERN
const string GOOD_IDENTIFIER_PATTERN_PYTHON = GOOD_IDENTIFIER_PATTERN

// HTTP header a client sends to reach a scheduler that is not the leader.
const string BYPASS_LEADER_REDIRECT_HEADER_NAME = 'Bypass-Leader-Redirect'

// Where the task's filesystem image is mounted in its sandbox.
const string TASK_FILESYSTEM_MOUNT_POINT = 'taskfs'

// ---------------------------------------------------------------------------------- enums

enum ResponseCode {
  INVALID_REQUEST    = 0,
  OK                 = 1,
  ERROR              = 2,
  WARNING            = 3,
  AUTH_FAILED        = 4,
  JOB_UPDATING_ERROR = 5,  // an update in progress blocked the call
  ERROR_TRANSIENT    = 6   // try again later
}

// The life of a task. Numbers are the wire values (there are gaps).
enum ScheduleStatus {
  PENDING     = 0,
  STARTING    = 1,
  RUNNING     = 2,
  FINISHED    = 3,
  FAILED      = 4,
  KILLED      = 5,
  KILLING     = 6,
  LOST        = 7,
  ASSIGNED    = 9,
  INIT        = 11,
  RESTARTING  = 12,
  PREEMPTING  = 13,
  THROTTLED   = 16,
  DRAINING    = 17,
  PARTITIONED = 18
}

const set<ScheduleStatus> TERMINAL_STATES = [
  ScheduleStatus.FAILED, ScheduleStatus.FINISHED, ScheduleStatus.KILLED, ScheduleStatus.LOST]

const set<ScheduleStatus> ACTIVE_STATES = [
  ScheduleStatus.ASSIGNED, ScheduleStatus.DRAINING, ScheduleStatus.KILLING,
  ScheduleStatus.PENDING, ScheduleStatus.PREEMPTING, ScheduleStatus.RESTARTING,
  ScheduleStatus.RUNNING, ScheduleStatus.STARTING, ScheduleStatus.PARTITIONED,
  ScheduleStatus.THROTTLED]

const set<ScheduleStatus> SLAVE_ASSIGNED_STATES = [
  ScheduleStatus.ASSIGNED, ScheduleStatus.DRAINING, ScheduleStatus.KILLING,
  ScheduleStatus.PREEMPTING, ScheduleStatus.RESTARTING, ScheduleStatus.RUNNING,
  ScheduleStatus.PARTITIONED, ScheduleStatus.STARTING]

const set<ScheduleStatus> LIVE_STATES = [
  ScheduleStatus.KILLING, ScheduleStatus.PREEMPTING, ScheduleStatus.RESTARTING,
  ScheduleStatus.DRAINING, ScheduleStatus.PARTITIONED, ScheduleStatus.RUNNING]

enum CronCollisionPolicy {
  KILL_EXISTING = 0,  // kill the run still going, then start the new one
  CANCEL_NEW    = 1,  // skip the new run
  RUN_OVERLAP   = 2   // deprecated: behaves as CANCEL_NEW
}

enum MaintenanceMode {
  NONE      = 1,
  SCHEDULED = 2,
  DRAINING  = 3,
  DRAINED   = 4
}

// Volume access.
enum Mode {
  RW = 1,
  RO = 2
}

enum JobUpdateStatus {
  ROLLING_FORWARD             = 0,
  ROLLING_BACK                = 1,
  ROLL_FORWARD_PAUSED         = 2,
  ROLL_BACK_PAUSED            = 3,
  ROLLED_FORWARD              = 4,
  ROLLED_BACK                 = 5,
  ABORTED                     = 6,
  ERROR                       = 7,
  FAILED                      = 8,
  ROLL_FORWARD_AWAITING_PULSE = 9,
  ROLL_BACK_AWAITING_PULSE    = 10
}

const set<JobUpdateStatus> ACTIVE_JOB_UPDATE_STATES = [
  JobUpdateStatus.ROLLING_FORWARD, JobUpdateStatus.ROLLING_BACK,
  JobUpdateStatus.ROLL_FORWARD_PAUSED, JobUpdateStatus.ROLL_BACK_PAUSED,
  JobUpdateStatus.ROLL_FORWARD_AWAITING_PULSE, JobUpdateStatus.ROLL_BACK_AWAITING_PULSE]

// (The misspelling is Aurora's constant name.)
const set<JobUpdateStatus> AWAITNG_PULSE_JOB_UPDATE_STATES = [
  JobUpdateStatus.ROLL_FORWARD_AWAITING_PULSE, JobUpdateStatus.ROLL_BACK_AWAITING_PULSE]

enum JobUpdateAction {
  INSTANCE_UPDATED         = 1,
  INSTANCE_ROLLED_BACK     = 2,
  INSTANCE_UPDATING        = 3,
  INSTANCE_ROLLING_BACK    = 4,
  INSTANCE_UPDATE_FAILED   = 5,
  INSTANCE_ROLLBACK_FAILED = 6
}

enum JobUpdatePulseStatus {
  OK       = 1,  // the update may go on
  FINISHED = 2   // the update is over; stop pulsing
}

// ------------------------------------------------------------------------------- job keys

struct JobKey {
  1: string role
  2: string environment
  3: string name
}

struct InstanceKey {
  1: JobKey jobKey
  2: i32 instanceId
}

// Deprecated in Aurora, still on the wire: the submitting user.
struct Identity {
  2: string user
}

// ---------------------------------------------------------------------------- constraints

struct ValueConstraint {
  1: bool negated
  2: set<string> values
}

struct LimitConstraint {
  1: i32 limit
}

union TaskConstraint {
  1: ValueConstraint value
  2: LimitConstraint limit
}

struct Constraint {
  1: string name
  2: TaskConstraint constraint
}

struct Metadata {
  1: string key
  2: string value
}

// ------------------------------------------------------------------ executor and container

struct ExecutorConfig {
  1: string name
  2: string data  // for AuroraExecutor: the Thermos job as JSON
}

struct MesosFetcherURI {
  1: string value
  2: optional bool extract
  3: optional bool cache
  4: optional string outputFile
}

struct Volume {
  1: string containerPath
  2: string hostPath
  3: Mode mode
}

struct DockerImage {
  1: string name
  2: string tag
}

struct AppcImage {
  1: string name
  2: string imageId
}

union Image {
  1: DockerImage docker
  2: AppcImage appc
}

struct MesosContainer {
  1: optional Image image
  2: optional list<Volume> volumes
}

struct DockerParameter {
  1: string name
  2: string value
}

struct DockerContainer {
  1: string image
  2: optional list<DockerParameter> parameters
}

union Container {
  1: MesosContainer mesos
  2: DockerContainer docker
}

// ------------------------------------------------------------------------------ resources

// One resource; a set of them describes a task's needs (ports may repeat, others may not).
union Resource {
  1: double numCpus
  2: i64 ramMb
  3: i64 diskMb
  4: string namedPort
  5: i64 numGpus
}

struct ResourceAggregate {
  // Aurora 0.19's fields, gone from 0.20 on (see the header).
  1: optional double numCpus
  2: optional i64 ramMb
  3: optional i64 diskMb
  4: set<Resource> resources
}

// ------------------------------------------------------------------------------- policies

struct PartitionPolicy {
  1: bool reschedule
  2: optional i64 delaySecs
}

struct PercentageSlaPolicy {
  1: double percentage
  2: i64 durationSecs
}

struct CountSlaPolicy {
  1: i64 count
  2: i64 durationSecs
}

struct CoordinatorSlaPolicy {
  1: string coordinatorUrl
  2: string statusKey
}

union SlaPolicy {
  1: PercentageSlaPolicy percentageSlaPolicy
  2: CountSlaPolicy countSlaPolicy
  3: CoordinatorSlaPolicy coordinatorSlaPolicy
}

// ---------------------------------------------------------------------------- task config

// What every instance of a job runs.
struct TaskConfig {
  28: JobKey job
  17: Identity owner
   7: bool isService
  11: i32 priority
  13: i32 maxTaskFailures
  30: optional string tier
  18: optional bool production  // deprecated: the scheduler derives it from the tier
  32: set<Resource> resources
  // Aurora 0.19's resource fields, gone from 0.20 on (see the header).
   8: optional double numCpus
   9: optional i64 ramMb
  10: optional i64 diskMb
  21: optional set<string> requestedPorts
  20: set<Constraint> constraints
  27: optional set<Metadata> metadata
  29: Container container = { "mesos": {} }
  25: optional ExecutorConfig executorConfig
  33: optional set<MesosFetcherURI> mesosFetcherUris
  23: optional string contactEmail
  22: optional map<string, string> taskLinks  // anchor text -> URL (with %host% etc.)
  34: optional PartitionPolicy partitionPolicy
  35: optional SlaPolicy slaPolicy
}

struct JobConfiguration {
  9: JobKey key
  7: Identity owner
  6: TaskConfig taskConfig
  8: i32 instanceCount
  4: optional string cronSchedule
  5: CronCollisionPolicy cronCollisionPolicy
}

// ---------------------------------------------------------------------------------- tasks

struct TaskEvent {
  1: i64 timestamp  // ms since the epoch
  2: ScheduleStatus status
  3: optional string message
  4: optional string scheduler  // host name of the scheduler that made the change
}

struct AssignedTask {
  1: string taskId
  6: i32 instanceId
  4: TaskConfig task
  2: string slaveId
  3: string slaveHost
  5: map<string, i32> assignedPorts
}

struct ScheduledTask {
  1: AssignedTask assignedTask
  2: ScheduleStatus status
  3: i32 failureCount
  6: i32 timesPartitioned
  4: list<TaskEvent> taskEvents
  5: string ancestorId
}

// Terms are ANDed; an unset term matches everything.
struct TaskQuery {
  14: optional string role
   9: optional string environment
   2: optional string jobName
  11: optional set<JobKey> jobKeys
   4: optional set<string> taskIds
   5: optional set<ScheduleStatus> statuses
   7: optional set<i32> instanceIds
  10: optional set<string> slaveHosts
  12: optional i32 offset
  13: optional i32 limit
}

struct PendingReason {
  1: string taskId
  2: string reason
}

// ----------------------------------------------------------------------- jobs and summaries

struct JobStats {
  1: i32 activeTaskCount
  2: i32 finishedTaskCount
  3: i32 failedTaskCount
  4: i32 pendingTaskCount
}

struct JobSummary {
  1: JobConfiguration job
  2: JobStats stats
  3: optional i64 nextCronRunMs
}

struct RoleSummary {
  1: string role
  2: i32 jobCount
  3: i32 cronJobCount
}

// Instances first..last, both included.
struct Range {
  1: i32 first
  2: i32 last
}

struct ConfigGroup {
  1: TaskConfig config
  3: set<Range> instances
}

struct ConfigSummary {
  1: JobKey key
  2: set<ConfigGroup> groups
}

struct TierConfig {
  1: string name
  2: map<string, string> settings
}

// ------------------------------------------------------------------------------ job updates

struct JobUpdateKey {
  1: JobKey job
  2: string id
}

struct QueueJobUpdateStrategy {
  1: i32 groupSize
}

struct BatchJobUpdateStrategy {
  1: i32 groupSize
  2: bool autopauseAfterBatch
}

struct VariableBatchJobUpdateStrategy {
  1: list<i32> groupSizes
  2: bool autopauseAfterBatch
}

union JobUpdateStrategy {
  1: QueueJobUpdateStrategy queueStrategy
  2: BatchJobUpdateStrategy batchStrategy
  3: VariableBatchJobUpdateStrategy varBatchStrategy
}

struct JobUpdateSettings {
   1: i32 updateGroupSize  // deprecated: use updateStrategy
   2: i32 maxPerInstanceFailures
   3: i32 maxFailedInstances
   5: i32 minWaitInInstanceRunningMs
   6: bool rollbackOnFailure
   7: set<Range> updateOnlyTheseInstances
   8: bool waitForBatchCompletion  // deprecated: use a batch updateStrategy
   9: optional i32 blockIfNoPulsesAfterMs
  10: optional bool slaAware
  11: optional JobUpdateStrategy updateStrategy
}

struct JobUpdateEvent {
  1: JobUpdateStatus status
  2: i64 timestampMs
  3: optional string user
  4: optional string message
}

struct JobInstanceUpdateEvent {
  1: i32 instanceId
  2: i64 timestampMs
  3: JobUpdateAction action
  4: optional string message
}

struct InstanceTaskConfig {
  1: TaskConfig task
  2: set<Range> instances
}

struct JobUpdateState {
  1: JobUpdateStatus status
  2: i64 createdTimestampMs
  3: i64 lastModifiedTimestampMs
}

struct JobUpdateSummary {
  5: JobUpdateKey key
  3: string user
  4: JobUpdateState state
  6: optional set<Metadata> metadata
}

struct JobUpdateInstructions {
  1: set<InstanceTaskConfig> initialState
  2: InstanceTaskConfig desiredState
  3: JobUpdateSettings settings
}

struct JobUpdate {
  1: JobUpdateSummary summary
  2: JobUpdateInstructions instructions
}

struct JobUpdateDetails {
  1: JobUpdate update
  2: list<JobUpdateEvent> updateEvents
  3: list<JobInstanceUpdateEvent> instanceEvents
}

struct JobUpdateRequest {
  1: TaskConfig taskConfig
  2: i32 instanceCount
  3: JobUpdateSettings settings
  4: optional set<Metadata> metadata
}

struct JobUpdateQuery {
  2: string role
  8: JobUpdateKey key
  3: JobKey jobKey
  4: string user
  5: set<JobUpdateStatus> updateStatuses
  6: i32 offset
  7: i32 limit
}

// ---------------------------------------------------------------------- hosts and operations

struct Hosts {
  1: set<string> hostNames
}

struct HostStatus {
  1: string host
  2: MaintenanceMode mode
}

struct ExplicitReconciliationSettings {
  1: optional i32 batchSize
}

// -------------------------------------------------------------------------------- results

struct PopulateJobResult {
  2: TaskConfig taskConfig
}

struct ScheduleStatusResult {
  1: list<ScheduledTask> tasks
}

struct GetJobsResult {
  1: set<JobConfiguration> configs
}

struct GetQuotaResult {
  1: ResourceAggregate quota
  2: optional ResourceAggregate prodSharedConsumption
  3: optional ResourceAggregate nonProdSharedConsumption
  4: optional ResourceAggregate prodDedicatedConsumption
  5: optional ResourceAggregate nonProdDedicatedConsumption
}

struct ListBackupsResult {
  1: set<string> backups
}

struct StartMaintenanceResult {
  1: set<HostStatus> statuses
}

struct DrainHostsResult {
  1: set<HostStatus> statuses
}

struct QueryRecoveryResult {
  1: set<ScheduledTask> tasks
}

struct MaintenanceStatusResult {
  1: set<HostStatus> statuses
}

struct EndMaintenanceResult {
  1: set<HostStatus> statuses
}

struct RoleSummaryResult {
  1: set<RoleSummary> summaries
}

struct JobSummaryResult {
  1: set<JobSummary> summaries
}

struct ConfigSummaryResult {
  1: ConfigSummary summary
}

struct GetPendingReasonResult {
  1: set<PendingReason> reasons
}

struct StartJobUpdateResult {
  1: JobUpdateKey key
  2: optional JobUpdateSummary updateSummary
}

struct GetJobUpdateSummariesResult {
  1: list<JobUpdateSummary> updateSummaries
}

struct GetJobUpdateDetailsResult {
  1: JobUpdateDetails details  // deprecated: one update, when asked by key
  2: list<JobUpdateDetails> detailsList
}

struct PulseJobUpdateResult {
  1: JobUpdatePulseStatus status
}

struct GetJobUpdateDiffResult {
  1: set<ConfigGroup> add
  2: set<ConfigGroup> remove
  3: set<ConfigGroup> update
  4: set<ConfigGroup> unchanged
}

struct GetTierConfigResult {
  1: string defaultTierName
  2: set<TierConfig> tiers
}

// At most one member is set; which one depends on the method (ids 2, 12-16 and 19 are unused).
union Result {
   1: PopulateJobResult populateJobResult
   3: ScheduleStatusResult scheduleStatusResult
   4: GetJobsResult getJobsResult
   5: GetQuotaResult getQuotaResult
   6: ListBackupsResult listBackupsResult
   7: StartMaintenanceResult startMaintenanceResult
   8: DrainHostsResult drainHostsResult
   9: QueryRecoveryResult queryRecoveryResult
  10: MaintenanceStatusResult maintenanceStatusResult
  11: EndMaintenanceResult endMaintenanceResult
  17: RoleSummaryResult roleSummaryResult
  18: JobSummaryResult jobSummaryResult
  20: ConfigSummaryResult configSummaryResult
  21: GetPendingReasonResult getPendingReasonResult
  22: StartJobUpdateResult startJobUpdateResult
  23: GetJobUpdateSummariesResult getJobUpdateSummariesResult
  24: GetJobUpdateDetailsResult getJobUpdateDetailsResult
  25: PulseJobUpdateResult pulseJobUpdateResult
  26: GetJobUpdateDiffResult getJobUpdateDiffResult
  27: GetTierConfigResult getTierConfigResult
}

struct ServerInfo {
  1: string clusterName
  3: string statsUrlPrefix  // id 2 is unused
}

struct ResponseDetail {
  1: string message
}

struct Response {
  1: ResponseCode responseCode
  5: ServerInfo serverInfo
  3: optional Result result
  6: list<ResponseDetail> details
}

// ------------------------------------------------------------------------------- services

// Queries; they change nothing.
service ReadOnlyScheduler {
  Response getRoleSummary()
  Response getJobSummary(1: string role)
  Response getTasksStatus(1: TaskQuery query)
  Response getTasksWithoutConfigs(1: TaskQuery query)
  Response getPendingReason(1: TaskQuery query)
  Response getConfigSummary(1: JobKey job)
  Response getJobs(1: string ownerRole)
  Response getQuota(1: string ownerRole)
  // The job as the scheduler would run it, defaults filled in (for diffs).
  Response populateJobConfig(1: JobConfiguration description)
  Response getJobUpdateSummaries(1: JobUpdateQuery jobUpdateQuery)
  Response getJobUpdateDetails(1: JobUpdateKey key, 2: JobUpdateQuery query)
  Response getJobUpdateDiff(1: JobUpdateRequest request)
  Response getTierConfigs()
}

// What a job owner may do.
service AuroraSchedulerManager extends ReadOnlyScheduler {
  Response createJob(1: JobConfiguration description)
  Response scheduleCronJob(1: JobConfiguration description)
  Response descheduleCronJob(4: JobKey job)
  Response startCronJob(4: JobKey job)
  Response restartShards(5: JobKey job, 3: set<i32> shardIds)
  Response killTasks(4: JobKey job, 5: set<i32> instances, 6: string message)
  Response addInstances(3: InstanceKey key, 4: i32 count)
  Response replaceCronTemplate(1: JobConfiguration config)
  Response startJobUpdate(1: JobUpdateRequest request, 3: string message)
  Response pauseJobUpdate(1: JobUpdateKey key, 3: string message)
  Response resumeJobUpdate(1: JobUpdateKey key, 3: string message)
  Response abortJobUpdate(1: JobUpdateKey key, 3: string message)
  Response rollbackJobUpdate(1: JobUpdateKey key, 2: string message)
  Response pulseJobUpdate(1: JobUpdateKey key)
}

// What an operator may do as well.
service AuroraAdmin extends AuroraSchedulerManager {
  Response setQuota(1: string ownerRole, 2: ResourceAggregate quota)
  Response forceTaskState(1: string taskId, 2: ScheduleStatus status)
  Response performBackup()
  Response listBackups()
  Response stageRecovery(1: string backupId)
  Response queryRecovery(1: TaskQuery query)
  Response deleteRecoveryTasks(1: TaskQuery query)
  Response commitRecovery()
  Response unloadRecovery()
  Response startMaintenance(1: Hosts hosts)
  Response drainHosts(1: Hosts hosts)
  Response maintenanceStatus(1: Hosts hosts)
  Response endMaintenance(1: Hosts hosts)
  Response slaDrainHosts(1: Hosts hosts, 2: SlaPolicy defaultSlaPolicy, 3: i64 timeoutSecs)
  Response snapshot()
  Response triggerExplicitTaskReconciliation(1: ExplicitReconciliationSettings settings)
  Response triggerImplicitTaskReconciliation()
  Response pruneTasks(1: TaskQuery query)
}
