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
    public const int ClientNotFound = 112;
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
    public int MaxMqueue { get; init; }
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

/// <summary>One plugin as <c>GET /api/v4/plugins</c> lists it (EMQX 4's fields, plus state, reason and leak counts).</summary>
internal sealed class PluginView
{
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
    public int LeakedInstances { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ApiResponse<PluginView[]>))]
[JsonSerializable(typeof(ApiOk))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(ApiResponse<BrokerInfo[]>))]
[JsonSerializable(typeof(ApiResponse<NodeInfo[]>))]
[JsonSerializable(typeof(ApiResponse<NodeStats[]>))]
[JsonSerializable(typeof(ApiResponse<NodeMetrics[]>))]
[JsonSerializable(typeof(ApiResponse<ClientView[]>))]
[JsonSerializable(typeof(ApiResponse<SubscriptionView[]>))]
internal sealed partial class ManagementJsonContext : JsonSerializerContext;
