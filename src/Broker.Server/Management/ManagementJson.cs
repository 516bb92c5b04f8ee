using System.Text.Json.Serialization;

namespace Broker.Server.Management;

// The wire shapes of the management API, in EMQX 4's layout: every answer is {"code":0,"data":...} (plus "meta"
// for paged lists), every error {"code":<n>,"message":"..."}. Property names are snake_case as in EMQX.

/// <summary>A successful answer.</summary>
internal sealed class ApiResponse<T>
{
    public int Code { get; init; }
    public required T Data { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PageMeta? Meta { get; init; }
    /// <summary>Cluster-wide answers: the nodes that could not be asked or did not answer in time (the data lacks theirs).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public NodeError[]? NodeErrors { get; init; }
}

/// <summary>A node whose part of a cluster-wide answer is missing, and why.</summary>
internal sealed class NodeError
{
    public required string Node { get; init; }
    public required string Error { get; init; }
}

/// <summary>What one node asks another over NATS for a cluster-wide answer (<see cref="ManagementApi"/>.Cluster).</summary>
internal sealed class ClusterQuestion
{
    /// <summary>clients, subscriptions, kick, stats, metrics, node, plugin, alarms, mqtt_subscribe or mqtt_unsubscribe.</summary>
    public required string Op { get; init; }
    /// <summary>The HTTP query string as the asked node received it (filters; the asker validated it).</summary>
    public string? Query { get; init; }
    public string? Clientid { get; init; }
    /// <summary>For op plugin: the plugin and the action (load, unload or reload).</summary>
    public string? Plugin { get; init; }
    public string? Action { get; init; }
    /// <summary>At most this many items, the first in the list's order (page × limit): the asker merges and pages.</summary>
    public int Take { get; init; }
    /// <summary>For op mqtt_subscribe / mqtt_unsubscribe: the request, for the node that has the client.</summary>
    public SubscribeRequest? Subscribe { get; init; }
}

/// <summary>One node's part of a cluster-wide answer; only the fields of the question's op are set.</summary>
internal sealed class ClusterAnswer
{
    /// <summary>Items matching (all of them, not only those sent), or 1 if the client was kicked.</summary>
    public int Count { get; init; }
    public ClientView[]? Clients { get; init; }
    public SubscriptionView[]? Subscriptions { get; init; }
    public Dictionary<string, long>? Stats { get; init; }
    public Dictionary<string, long>? Metrics { get; init; }
    public NodeInfo? Node { get; init; }
    public BrokerInfo? Broker { get; init; }
    /// <summary>A plugin action: the plugin as it is now on that node; or why the action failed there, with its HTTP status.</summary>
    public PluginView[]? Plugins { get; init; }
    public string? Error { get; init; }
    public int Status { get; init; }
    /// <summary>Op alarms: this node's (the question's query: all, activated or deactivated).</summary>
    public AlarmView[]? Alarms { get; init; }
    /// <summary>Op mqtt_subscribe / mqtt_unsubscribe: what the node that has the client did (count 1; <see cref="Status"/> for a failure).</summary>
    public MqttActionResult[]? MqttResults { get; init; }
}

/// <summary>Body of <c>POST /api/v5/cluster/join</c>.</summary>
internal sealed class ClusterJoinRequest
{
    /// <summary>The NATS server(s) to join over: nats://host:port, or several comma-separated.</summary>
    public string? Nats { get; init; }
}

/// <summary>What a join, leave or force-leave did.</summary>
internal sealed class ClusterChangeView
{
    public required string Message { get; init; }
    /// <summary>joined, left or off, after the change.</summary>
    public required string Membership { get; init; }
}

/// <summary>A successful answer without data (DELETE).</summary>
internal sealed class ApiOk
{
    public int Code { get; init; }
}

/// <summary>A failed answer; <see cref="Code"/> uses EMQX 4's result codes (<see cref="ApiCodes"/>).</summary>
internal sealed class ApiError
{
    public int Code { get; init; }
    public required string Message { get; init; }
}

/// <summary>EMQX 4's result codes, so scripts written for it read ours.</summary>
internal static class ApiCodes
{
    public const int Ok = 0;
    public const int UnknownError = 102;
    public const int BadCredentials = 103;
    public const int MissingParameter = 107;
    public const int BadParameter = 108;
    public const int BadJson = 109;
    /// <summary>EMQX: "client not online"; here: no session with that client id (connected or persistent).</summary>
    public const int ClientNotFound = 112;
    /// <summary>A topic name or filter that is not valid where it is used (EMQX's bad_topic).</summary>
    public const int BadTopic = 115;
    /// <summary>A QoS outside 0..2 (EMQX's bad_qos).</summary>
    public const int BadQos = 116;
    public const int NotFound = 404;
}

internal sealed class PageMeta
{
    public int Page { get; init; }
    public int Limit { get; init; }
    public int Count { get; init; }
    public bool Hasnext { get; init; }
}

internal sealed class BrokerInfo
{
    public required string Node { get; init; }
    public required string Version { get; init; }
    public required string Uptime { get; init; }
    public required string Datetime { get; init; }
    public required string Sysdescr { get; init; }
    public required string NodeStatus { get; init; }
}

internal sealed class NodeInfo
{
    public required string Node { get; init; }
    public required string Version { get; init; }
    public required string Uptime { get; init; }
    public required string NodeStatus { get; init; }
    public long Connections { get; init; }
    public long ProcessId { get; init; }
    public long MemoryUsed { get; init; }
}

internal sealed class NodeStats
{
    public required string Node { get; init; }
    public required Dictionary<string, long> Stats { get; init; }
}

internal sealed class NodeMetrics
{
    public required string Node { get; init; }
    public required Dictionary<string, long> Metrics { get; init; }
}

internal sealed class ClientView
{
    public required string Node { get; init; }
    public required string Clientid { get; init; }
    public string? Username { get; init; }
    public required string ProtoName { get; init; }
    public int ProtoVer { get; init; }
    public string? IpAddress { get; init; }
    public int? Port { get; init; }
    public bool Connected { get; init; }
    public string? ConnectedAt { get; init; }
    public required string Listener { get; init; }
    public bool CleanStart { get; init; }
    public int Keepalive { get; init; }
    public long ExpiryInterval { get; init; }
    public int SubscriptionsCnt { get; init; }
    public int Inflight { get; init; }
    public int MaxInflight { get; init; }
    public int MqueueLen { get; init; }
    public long MqueueDropped { get; init; }
    public bool SlowSubscriber { get; init; }
    /// <summary>The session is kept in the persistence store (persistence on, expiry &gt; 0): it survives a restart.</summary>
    public bool Persisted { get; init; }
    public int MaxMqueue { get; init; }
    /// <summary>Bytes (payload and topic) in the queue, against session.max_mqueue_bytes.</summary>
    public long MqueueBytes { get; init; }
    public long MaxMqueueBytes { get; init; }
    /// <summary>Bytes of QoS 0 messages waiting for the connection's writer, against session.max_qos0_backlog_bytes.</summary>
    public long Qos0BacklogBytes { get; init; }
}

/// <summary>One node's alarms (EMQX 4's <c>/api/v4/alarms</c>).</summary>
internal sealed class NodeAlarms
{
    public required string Node { get; init; }
    public required AlarmView[] Alarms { get; init; }
}

internal sealed class AlarmView
{
    public required string Name { get; init; }
    public required string Message { get; init; }
    public required IReadOnlyDictionary<string, long> Details { get; init; }
    public bool Activated { get; init; }
    /// <summary>Microseconds since the Unix epoch, as EMQX 4 writes them.</summary>
    public long ActivateAt { get; init; }
    public long? DeactivateAt { get; init; }
    /// <summary>Seconds it has been (or was) active.</summary>
    public long Duration { get; init; }
}

/// <summary>One ban (EMQX 4's <c>/api/v4/banned</c>): <c>as</c> is clientid, username or peerhost; times in Unix seconds.</summary>
internal sealed class BanView
{
    public required string Who { get; init; }
    public required string As { get; init; }
    public required string Reason { get; init; }
    public required string By { get; init; }
    public long At { get; init; }
    public long Until { get; init; }
}

/// <summary>The body of <c>POST /banned</c>: <c>at</c> defaults to now, <c>until</c> to five minutes after <c>at</c>.</summary>
internal sealed class BanRequest
{
    public string? Who { get; init; }
    public string? As { get; init; }
    public string? Reason { get; init; }
    public string? By { get; init; }
    public long? At { get; init; }
    public long? Until { get; init; }
}

internal sealed class SubscriptionView
{
    public required string Node { get; init; }
    public required string Clientid { get; init; }
    public required string Topic { get; init; }
    public int Qos { get; init; }
    public bool Nl { get; init; }
    public bool Rap { get; init; }
    public int Rh { get; init; }
}

/// <summary>An application as <c>GET /api/v4/apps</c> lists it (EMQX 4's fields; the default one is <c>builtin</c>).</summary>
internal sealed class AppView
{
    public required string AppId { get; init; }
    public required string Name { get; init; }
    public required string Desc { get; init; }
    public bool Status { get; init; }
    public long? Expired { get; init; }
    public bool Builtin { get; init; }
}

/// <summary>The body of <c>POST /api/v4/apps</c> and <c>PUT /api/v4/apps/{id}</c>.</summary>
internal sealed class AppRequest
{
    public string? AppId { get; init; }
    public string? Name { get; init; }
    public string? Secret { get; init; }
    public string? Desc { get; init; }
    public bool? Status { get; init; }

    /// <summary>Unix seconds after which the application is refused; 0 = never (on PUT: clears it); absent or null = unchanged.</summary>
    public long? Expired { get; init; }
}

/// <summary>What <c>POST /api/v4/apps</c> answers: the secret, shown this once.</summary>
internal sealed class AppSecret
{
    public required string AppId { get; init; }
    public required string Secret { get; init; }
}

/// <summary>One key of a plugin's configuration (<c>GET /api/v4/plugins/{name}/config</c>).</summary>
internal sealed class PluginConfigEntry
{
    public required string Key { get; init; }
    public required string Value { get; init; }

    /// <summary><c>file:line</c>, or the environment variable that set it.</summary>
    public string? Origin { get; init; }
}

/// <summary>One plugin as <c>GET /api/v4/plugins</c> lists it (EMQX 4's fields, plus state, reason and leak counts).</summary>
internal sealed class PluginView
{
    /// <summary>The node it is on, in the answer of a load, unload or reload (several nodes may answer); null in lists.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Node { get; init; }
    public required string Name { get; init; }
    public required string Version { get; init; }
    public required string Description { get; init; }
    public bool Active { get; init; }
    /// <summary>running, stopped, failed, unloading or leaking.</summary>
    public required string State { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Reason { get; init; }
    /// <summary>Listed in data/loaded_plugins: started at boot.</summary>
    public bool Boot { get; init; }
    public long HookFailures { get; init; }
    /// <summary>Hook callbacks of the plugin called on connection (I/O) threads, and the milliseconds they took there.</summary>
    public long HookCalls { get; init; }
    public double HookTimeMs { get; init; }
    /// <summary>Calls of its blocking hook callbacks (HookOptions.Blocking), made on the thread pool instead.</summary>
    public long HookOffloadedCalls { get; init; }
    public int LeakedInstances { get; init; }
    /// <summary>The plugin's own endpoints (IPluginContext.Http), <c>METHOD /api/v4/plugins/&lt;name&gt;/api/...</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string[]? Endpoints { get; init; }
}

/// <summary>One route: a topic filter (share prefix removed) with at least one subscriber on <see cref="Node"/>.</summary>
internal sealed class RouteView
{
    public required string Topic { get; init; }
    public required string Node { get; init; }
}

/// <summary>
/// The body of <c>POST /mqtt/publish</c> (and one item of <c>publish_batch</c>), EMQX 4's fields: <c>topic</c> or
/// <c>topics</c> ("a,b"), <c>clientid</c> (publisher), <c>payload</c>, <c>encoding</c> (plain|base64), <c>qos</c>,
/// <c>retain</c>, <c>properties</c> (MQTT 5). Unknown top-level fields are ignored, as EMQX does.
/// </summary>
internal sealed class PublishRequest
{
    public string? Topic { get; init; }
    public string? Topics { get; init; }
    public string? Clientid { get; init; }
    public string? Payload { get; init; }
    public string? Encoding { get; init; }
    public int? Qos { get; init; }
    public bool? Retain { get; init; }
    public PublishProperties? Properties { get; init; }
}

/// <summary>MQTT 5 properties of an API publish; an unknown one is a 400, as in EMQX.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class PublishProperties
{
    public Dictionary<string, string>? UserProperties { get; init; }
    public long? MessageExpiryInterval { get; init; }
    public int? PayloadFormatIndicator { get; init; }
    public string? ContentType { get; init; }
    public string? ResponseTopic { get; init; }
    /// <summary>Sent as the UTF-8 bytes of the string.</summary>
    public string? CorrelationData { get; init; }
}

/// <summary>The body of <c>POST /mqtt/subscribe</c> and <c>/mqtt/unsubscribe</c> (and one item of their batches).</summary>
internal sealed class SubscribeRequest
{
    public string? Topic { get; init; }
    public string? Topics { get; init; }
    public string? Clientid { get; init; }
    public int? Qos { get; init; }
}

/// <summary>
/// What became of one publish, subscribe or unsubscribe: in a single call's <c>data</c> (code 0, with
/// <see cref="Delivered"/> for a publish) and per item of a batch (code 0 or the error's code and message).
/// </summary>
internal sealed class MqttActionResult
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Clientid { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Topic { get; init; }
    public int Code { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Message { get; init; }
    /// <summary>Publish: how many sessions the message reached (0 when a hook such as delayed publish kept it).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Delivered { get; init; }
}

/// <summary>What <c>PUT /acl/reload</c> loaded.</summary>
internal sealed class AclReloadView
{
    public required string AclFile { get; init; }
    public int Rules { get; init; }
    public required string PasswordFile { get; init; }
    public int Users { get; init; }
}

/// <summary>One node of <c>GET /api/v5/nodes</c> (<c>ctl cluster status</c>): this node, and in a cluster every other it knows.</summary>
internal sealed class ClusterNodeView
{
    public required string Node { get; init; }
    /// <summary>True for the node that answered.</summary>
    public bool Self { get; init; }
    /// <summary>running, or down (not heard within cluster.node_timeout; its routes withdrawn).</summary>
    public required string NodeStatus { get; init; }
    public required string Uptime { get; init; }
    public long UptimeSeconds { get; init; }
    public long Connections { get; init; }
    /// <summary>Its routes: distinct filters with a subscriber there.</summary>
    public int Routes { get; init; }
    /// <summary>Messages the answering node forwarded to it (0 for itself).</summary>
    public long ForwardedTo { get; init; }
    /// <summary>Answering node only: messages it received from other nodes.</summary>
    public long? ForwardedIn { get; init; }
    /// <summary>Answering node only: messages it could not queue for another node.</summary>
    public long? ForwardDropped { get; init; }
    /// <summary>Answering node only: forwards it sent again because their node had not acknowledged them (lost on the way through NATS).</summary>
    public long? ForwardResent { get; init; }
    /// <summary>Answering node only: QoS 1/2 forwards acknowledged to their publishers without the receiving node's word (it was found down, left or stopped, or did not answer within cluster.node_timeout).</summary>
    public long? ForwardReleased { get; init; }
    /// <summary>Answering node only: share-group forwards sent to another node because the chosen one lost its last member of the group or went down.</summary>
    public long? ForwardRedispatched { get; init; }
    /// <summary>Answering node only: persistent sessions whose last change is not in the cluster's copy yet.</summary>
    public int? SessionCopiesPending { get; init; }
    /// <summary>Other nodes: milliseconds since their last heartbeat.</summary>
    public long? LastSeenMs { get; init; }
    /// <summary>Answering node only: cluster.name, or null when clustering is off.</summary>
    public string? Cluster { get; init; }
    /// <summary>Answering node only, in a cluster: whether its NATS connection is open.</summary>
    public bool? NatsConnected { get; init; }
    /// <summary>Answering node only: the NATS server it is connected to.</summary>
    public string? NatsServer { get; init; }
    /// <summary>Answering node only, while its NATS connection is not open: why (what the last attempt was told), if known.</summary>
    public string? NatsError { get; init; }
    /// <summary>Answering node only: joined, left (ctl cluster leave, kept in data/cluster.state) or off (cluster.enable = off).</summary>
    public string? Membership { get; init; }
    /// <summary>Answering node only, in a cluster: the NATS servers it uses.</summary>
    public string? NatsServers { get; init; }
}

/// <summary>What <c>ctl trace</c> follows.</summary>
internal sealed class TraceView
{
    public required string[] Clients { get; init; }
    public required string[] Topics { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ApiResponse<PluginView[]>))]
[JsonSerializable(typeof(ApiResponse<PluginConfigEntry[]>))]
[JsonSerializable(typeof(ApiResponse<AppView[]>))]
[JsonSerializable(typeof(ApiResponse<AppView>))]
[JsonSerializable(typeof(ApiResponse<AppSecret>))]
[JsonSerializable(typeof(AppRequest))]
[JsonSerializable(typeof(List<StoredApp>))]
[JsonSerializable(typeof(ApiOk))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(ApiResponse<BrokerInfo[]>))]
[JsonSerializable(typeof(ApiResponse<NodeInfo[]>))]
[JsonSerializable(typeof(ApiResponse<ClusterNodeView[]>))]
[JsonSerializable(typeof(ApiResponse<NodeStats[]>))]
[JsonSerializable(typeof(ApiResponse<NodeMetrics[]>))]
[JsonSerializable(typeof(ApiResponse<ClientView[]>))]
[JsonSerializable(typeof(ApiResponse<SubscriptionView[]>))]
[JsonSerializable(typeof(ApiResponse<RouteView[]>))]
[JsonSerializable(typeof(ApiResponse<MqttActionResult[]>))]
[JsonSerializable(typeof(ApiResponse<AclReloadView>))]
[JsonSerializable(typeof(ApiResponse<TraceView>))]
[JsonSerializable(typeof(ApiResponse<NodeAlarms[]>))]
[JsonSerializable(typeof(ApiResponse<BanView[]>))]
[JsonSerializable(typeof(ApiResponse<BanView>))]
[JsonSerializable(typeof(BanRequest))]
[JsonSerializable(typeof(ApiResponse<Dictionary<string, long>>))]
[JsonSerializable(typeof(ClusterQuestion))]
[JsonSerializable(typeof(ClusterAnswer))]
[JsonSerializable(typeof(ClusterJoinRequest))]
[JsonSerializable(typeof(ApiResponse<ClusterChangeView>))]
[JsonSerializable(typeof(PublishRequest))]
[JsonSerializable(typeof(PublishRequest[]))]
[JsonSerializable(typeof(SubscribeRequest))]
[JsonSerializable(typeof(SubscribeRequest[]))]
internal sealed partial class ManagementJsonContext : JsonSerializerContext;
