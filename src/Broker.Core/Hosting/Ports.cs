using Broker.Core.Connections;
using System.IO.Pipelines;
using System.Net;
using Broker.Abstractions;
using Broker.Core.Alarms;
using Broker.Core.AccessControl;
using Broker.Core.Logging;
using Broker.Core.Metrics;
using Broker.Core.Sessions;
using Broker.Abstractions.Hooks;

namespace Broker.Core.Hosting;

// The core's ports: what each part of the host may use of the core, and nothing else. The broker executable builds a
// BrokerCore and hands each consumer the one port it needs (a listener IConnectionHost, the cluster IClusterPort, the
// management API the read model, client directory, publisher and access administration). The plugin host has its own
// port, PluginSupport. None of them reaches the engine, its sessions or its router.

/// <summary>
/// A read model of the node: identity, uptime, the counters and gauges of <c>/stats</c> and <c>/metrics</c> (the
/// management API, Prometheus, dashboards; $SYS publishes the same numbers), alarms and routes. Every member reads;
/// nothing here changes the broker.
/// </summary>
public interface IBrokerStatus
{
    /// <summary>This node's name (<c>node.name</c>).</summary>
    string NodeName { get; }

    /// <summary>When the core was built.</summary>
    DateTimeOffset StartedAt { get; }

    /// <summary>The broker's clock, now.</summary>
    DateTimeOffset Now { get; }

    /// <summary>Whether the broker is stopping (new CONNECTs are refused).</summary>
    bool IsShuttingDown { get; }

    /// <summary>Clients connected now.</summary>
    int Connections { get; }

    /// <summary>Routes: distinct topic filters with a subscriber on this node, share groups counted per group.</summary>
    int RouteCount { get; }

    /// <summary>The gauges of <c>/stats</c> (EMQX's names: <c>connections.count</c>...), then those plugins set.</summary>
    Dictionary<string, long> Stats();

    /// <summary>The counters of <c>/metrics</c> (EMQX's names: <c>packets.received</c>...), then plugins' instruments.</summary>
    Dictionary<string, long> Metrics();

    /// <summary>The gauges plugins set (<c>IBrokerServices.SetGauge</c>), also in <see cref="Stats"/>.</summary>
    IReadOnlyDictionary<string, long> PluginGauges();

    /// <summary>Plugins' <see cref="System.Diagnostics.Metrics"/> instruments, as read now.</summary>
    IReadOnlyList<PluginMetric> PluginMetrics();

    /// <summary>The persistence store's numbers; null when persistence is off.</summary>
    PersistenceStatus? Persistence { get; }

    /// <summary>Alarms active now, oldest first.</summary>
    IReadOnlyList<Alarm> ActiveAlarms();

    /// <summary>The last alarms that ended, newest first.</summary>
    IReadOnlyList<Alarm> DeactivatedAlarms();

    /// <summary>Every routed filter on this node, clients' and plugins' internal subscriptions', once each, sorted.</summary>
    List<string> RouteFilters();
}

/// <summary>The persistence store's numbers, as read at one moment.</summary>
public readonly record struct PersistenceStatus(
    long Pending, int Sessions, long SizeOnDisk, double LastWriteMilliseconds, long Writes, long Written, long Failures, bool IsFailing);

/// <summary>A session as the management API lists it: the client (while connected or remembered), its queue and window.</summary>
/// <param name="ClientId">The client identifier.</param>
/// <param name="Client">The client of its last connection; null for a session restored from disk and not yet resumed.</param>
/// <param name="IsConnected">Whether the client is connected now.</param>
public sealed record SessionSnapshot(
    string ClientId,
    ClientInfo? Client,
    bool IsConnected,
    uint ExpiryInterval,
    int SubscriptionCount,
    int InflightCount,
    int QueueLength,
    long DroppedCount,
    bool IsSlow,
    bool IsPersisted,
    long QueuedBytes,
    long Qos0BacklogBytes,
    int MaxInflight,
    int MaxQueueLength,
    long MaxQueueBytes);

/// <summary>One subscription of one session.</summary>
public readonly record struct SubscriptionEntry(string ClientId, string TopicFilter, SubscriptionOptions Options);

/// <summary>
/// This node's sessions, for the management API and <c>ctl</c>: list, look up, kick, and empty authorization caches.
/// Snapshots are copies: reading them costs the sessions nothing.
/// </summary>
public interface IClientDirectory
{
    /// <summary>Sessions on this node, connected or not.</summary>
    int Count { get; }

    /// <summary>Network connections open now, including those still in CONNECT.</summary>
    int ChannelCount { get; }

    /// <summary>Every session, unsorted.</summary>
    IEnumerable<SessionSnapshot> All();

    /// <summary>The session of <paramref name="clientId"/>, if there is one on this node.</summary>
    SessionSnapshot? Find(string clientId);

    /// <summary>Whether <paramref name="clientId"/> has a session on this node.</summary>
    bool Exists(string clientId);

    /// <summary>Every subscription on this node, or those of <paramref name="clientId"/> when given (none for an unknown one).</summary>
    List<SubscriptionEntry> Subscriptions(string? clientId = null);

    /// <summary>Disconnects <paramref name="clientId"/> (DISCONNECT 0x98 for MQTT 5) and ends its session; false if unknown.</summary>
    Task<bool> KickAsync(string clientId);

    /// <summary>Empties the authorization cache of <paramref name="clientId"/>'s connection; false if it is not connected.</summary>
    bool CleanAuthorizationCache(string clientId);

    /// <summary>Takes every authorization decision as changed: caches emptied, subscriptions authorized again.</summary>
    void InvalidateAuthorization();
}

/// <summary>Publishes as the broker does for a client's PUBLISH: <c>message.publish</c>, then routing.</summary>
public interface IMessagePublisher
{
    /// <summary>
    /// Publishes <paramref name="message"/> for <paramref name="publisher"/> (null: the broker or the management API).
    /// Authorization is the caller's business. Returns the number of deliveries, or -1 when <c>message.publish</c>
    /// stopped it.
    /// </summary>
    ValueTask<int> PublishAsync(BrokerMessage message, ClientInfo? publisher = null);
}

/// <summary>The banned list and the log traces (<c>ctl banned</c>, <c>ctl trace</c>, the management API).</summary>
public interface IAccessAdministration
{
    /// <summary>Bans in force, oldest first.</summary>
    List<Ban> Bans();

    /// <summary>Adds <paramref name="ban"/> and disconnects the clients it matches; returns how many.</summary>
    Task<int> BanAsync(Ban ban);

    /// <summary>Lifts a ban; false if there was none.</summary>
    bool Unban(BanKind kind, string who);

    /// <summary>The clients and topic filters whose log events are written in full.</summary>
    TraceSet Traces { get; }

    /// <summary>Starts tracing a client or topic filter; false if it already was.</summary>
    /// <exception cref="ArgumentException">A topic filter that is not valid.</exception>
    bool StartTrace(TraceKind kind, string name);

    /// <summary>Stops tracing; false if it was not traced.</summary>
    bool StopTrace(TraceKind kind, string name);
}

/// <summary>What a listener hands an accepted connection's MQTT side, and how it closes its connections.</summary>
public interface IConnectionHost
{
    /// <summary>The broker's clock.</summary>
    TimeProvider TimeProvider { get; }

    /// <summary>How long a closing connection drains what its client still sends (<c>mqtt.close_linger</c>).</summary>
    TimeSpan CloseLinger { get; }

    /// <summary>Whether an event of a listener should be logged now (<c>log.throttle_*</c>): false while it floods.</summary>
    bool ShouldLog(int eventId, string name);

    /// <summary>
    /// Runs MQTT over <paramref name="transport"/> until the connection ends; the returned task completes then, with
    /// the transport completed. Running, the connection is listed for <see cref="CloseAllAsync"/>.
    /// </summary>
    Task RunAsync(IDuplexPipe transport, ConnectionSettings connection);

    /// <summary>
    /// Starts MQTT over <paramref name="transport"/> without a task that waits for it (an idle connection then holds no
    /// awaiting state machine); the connection completes the transport when it ends. Running, it is listed for
    /// <see cref="CloseAllAsync"/>.
    /// </summary>
    /// <returns>The connection, for a listener that stopped while it was being accepted to close it.</returns>
    IListenerConnection Start(IDuplexPipe transport, ConnectionSettings connection);

    /// <summary>
    /// Sends every connection of <paramref name="listener"/> DISCONNECT 0x8B (MQTT 5) and closes it; completes when
    /// they are closed. Returns how many there were.
    /// </summary>
    Task<int> CloseAllAsync(string listener);
}

/// <summary>A connection a listener started (<see cref="IConnectionHost.Start"/>).</summary>
public interface IListenerConnection
{
    /// <summary>Sends DISCONNECT 0x8B (MQTT 5) and closes the connection, as a listener's stop does.</summary>
    Task CloseAsync();
}

/// <summary>What the core needs to know of one accepted connection.</summary>
public sealed class ConnectionSettings
{
    /// <summary>The listener's name (<c>tcp:default</c>), shown with the client and used by <see cref="IConnectionHost.CloseAllAsync"/>.</summary>
    public required string Listener { get; init; }

    /// <summary>The peer's address and port; null when the transport cannot tell.</summary>
    public IPEndPoint? RemoteEndPoint { get; init; }

    /// <summary>The user name a TLS client certificate gives (<c>peer_cert_as_username</c>); null for none.</summary>
    public string? PeerCertUsername { get; init; }

    /// <summary>Whether <see cref="PeerCertUsername"/> is the certificate's CN (otherwise its DN).</summary>
    public bool UsernameFromCertificate { get; init; }

    /// <summary>The client certificate's common name and subject DN; null without one.</summary>
    public string? PeerCertCommonName { get; init; }

    /// <inheritdoc cref="PeerCertCommonName"/>
    public string? PeerCertSubject { get; init; }

    /// <summary>The listener's inbound limits (<c>messages_in</c>, <c>bytes_in</c>); null for none.</summary>
    public RateLimit? MessagesIn { get; init; }

    /// <inheritdoc cref="MessagesIn"/>
    public RateLimit? BytesIn { get; init; }

    /// <summary>Where the connection's writer runs: the I/O loop that reads it, if any; default the thread pool.</summary>
    public IWriterScheduler Writers { get; init; } = ThreadPoolWriterScheduler.Instance;
}
